// bcrypt comparisons in worker threads, so a flood of logins to verify never runs ~100 ms of CPU per
// attempt on the event loop that serves /metrics. bcryptjs is pure JavaScript; the worker runs it
// synchronously. The worker's code is evaluated from a string (it requires bcryptjs by its resolved
// path) so the same code runs from dist/ and from the TypeScript sources under tsx.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
// On Linux the nice value is per thread: the event loop (scrapes) wins the CPU over a login flood.
// Only a little (nice 3): on a host loaded by other work a nicer thread would starve the logins.
try { require('node:os').setPriority(3); } catch {}
parentPort.on('message', (m) => {
  let ok = false;
  try { ok = bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
  parentPort.postMessage({ id: m.id, ok });
});
`;

interface Task {
  id: number;
  resolve(ok: boolean): void;
  reject(err: Error): void;
}

class BcryptWorker {
  private worker: Worker | null = null;
  private task: Task | null = null;

  constructor(private readonly bcryptPath: string) {}

  get busy(): boolean {
    return this.task !== null;
  }

  compare(id: number, password: string, hash: string): Promise<boolean> {
    const worker = (this.worker ??= this.spawn());
    return new Promise<boolean>((resolve, reject) => {
      this.task = { id, resolve, reject };
      worker.postMessage({ id, password, hash });
    });
  }

  private spawn(): Worker {
    // No --import tsx and the like: the worker runs plain JavaScript.
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { bcryptPath: this.bcryptPath }, execArgv: [] });
    worker.unref();
    worker.on('message', (m: { id: number; ok: boolean }) => {
      const t = this.task;
      if (!t || t.id !== m.id) return;
      this.task = null;
      t.resolve(m.ok);
    });
    const fail = (err: Error) => {
      const t = this.task;
      this.task = null;
      this.worker = null;
      t?.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`bcrypt worker exited with code ${code}`)));
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

/** `size` workers; the caller keeps at most `size` comparisons running (the auth queue does). */
export class BcryptPool {
  private readonly workers: BcryptWorker[];
  private nextId = 1;

  constructor(readonly size: number) {
    const bcryptPath = createRequire(import.meta.url).resolve('bcryptjs');
    this.workers = Array.from({ length: size }, () => new BcryptWorker(bcryptPath));
  }

  /** Whether `password` matches `hash`; rejects only when a worker died (a malformed hash is false). */
  compare(password: string, hash: string): Promise<boolean> {
    const free = this.workers.find((w) => !w.busy);
    if (!free) return Promise.reject(new Error('bcrypt pool: every worker is busy (the caller must bound its comparisons)'));
    return free.compare(this.nextId++, password, hash);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
