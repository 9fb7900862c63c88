// A rendered response kept until the daemon changes (the way /metrics keeps its body): the JSON of
// 1,000 targets is ~1.5 MB and the landing page is rendered from the same snapshots, so rendering
// them per request let a flood of requests (or one connection pipelining hundreds) multiply that
// cost in memory and CPU. Concurrent requests for the same version share one rendering, and every
// response sends the same Buffer (the socket writes it without a copy per connection).
// The daemon's version covers what /metrics shows; the JSON and the page show a little more (a
// sentinel's check count, next run times), so a body is also re-rendered once it is MAX_AGE_MS old:
// at most one rendering per second whatever the request rate.
export const MAX_AGE_MS = 1000;

export class VersionedResponse {
  private cached: { version: string | number; at: number; body: Promise<Buffer> } | null = null;
  /** Renderings done (for tests and the benchmark). */
  renders = 0;

  constructor(
    private readonly render: () => string | Promise<string>,
    private readonly now: () => number,
  ) {}

  /** The body rendered for `version` (anything that changes when the content would), at most MAX_AGE_MS old. */
  body(version: string | number): Promise<Buffer> {
    const c = this.cached;
    if (c && c.version === version && this.now() - c.at < MAX_AGE_MS) return c.body;
    this.renders++;
    const body = Promise.resolve()
      .then(() => this.render())
      .then((text) => Buffer.from(text, 'utf8'));
    const entry = { version, at: this.now(), body };
    this.cached = entry;
    body.catch(() => {
      if (this.cached === entry) this.cached = null;
    });
    return body;
  }
}
