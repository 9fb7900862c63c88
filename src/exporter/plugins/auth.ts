// Who may talk to the daemon: the web config's TLS client-certificate policy and basic auth, on
// every route. Registered with fastify-plugin so its hook applies to the whole app, not only to
// routes inside this plugin. Repeated failures are logged at most once a minute per kind.
import type net from 'node:net';
import type { TLSSocket } from 'node:tls';
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import { BasicAuthChecker, type BcryptLimits } from '../basic-auth.ts';
import { clientKey } from '../client-key.ts';
import type { WebConfig } from '../web-config.ts';
import type { RateLimitedLog } from '../../log.ts';
import type { HttpCounters } from '../http-counters.ts';

export interface AuthOptions {
  webConfig?: WebConfig;
  bcrypt: BcryptLimits;
  failures: RateLimitedLog;
  /** A request on this socket authenticated (its connection is evicted last). */
  onAuthenticated?: (socket: net.Socket) => void;
  counters?: HttpCounters;
}

const auth: FastifyPluginAsync<AuthOptions> = async (app, { webConfig, bcrypt, failures, onAuthenticated, counters }) => {
  const tls = webConfig?.tls ?? null;
  const checker = new BasicAuthChecker(webConfig?.basicAuthUsers ?? new Map<string, string>(), bcrypt);
  app.addHook('onClose', async () => checker.close());
  const headers = Object.entries(webConfig?.headers ?? {});
  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of headers) reply.header(k, v);
    if (tls && (tls.clientAuthType === 'RequireAnyClientCert' || tls.clientAuthType === 'VerifyClientCertIfGiven')) {
      const sock = req.raw.socket as TLSSocket;
      const cert = sock.getPeerCertificate?.();
      const present = !!cert && Object.keys(cert).length > 0;
      if (tls.clientAuthType === 'RequireAnyClientCert' && !present) {
        failures.warn('tls-no-cert', `HTTP ${req.method} ${req.routeOptions.url ?? 'unknown route'} from ${req.ip}: no client certificate (403)`);
        return reply.code(403).send({ error: 'a client certificate is required' });
      }
      if (tls.clientAuthType === 'VerifyClientCertIfGiven' && present && !sock.authorized) {
        failures.warn('tls-untrusted', `HTTP request from ${req.ip}: untrusted client certificate (${String(sock.authorizationError)}) (403)`);
        return reply.code(403).send({ error: 'client certificate not trusted' });
      }
    }
    if (!checker.enabled) return;
    // A login still waiting for bcrypt when its client goes away leaves the queue.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    const result = await checker.check(req.headers.authorization, clientKey(req.ip), gone.signal);
    reply.raw.off('close', onClose);
    if (result === 'ok') {
      onAuthenticated?.(req.raw.socket);
      return;
    }
    if (result === 'busy') {
      if (counters) counters.requestsRefused.auth_queue++;
      failures.warn('auth-busy', `HTTP basic auth: too many unverified logins waiting; answered 429 (from ${req.ip})`);
      return reply.code(429).header('connection', 'close').header('retry-after', '1').send({ error: 'too many authentication attempts at once; retry later' });
    }
    failures.warn('auth-denied', `HTTP basic auth failed from ${req.ip} (401)`);
    // A wrong password closes the connection: the next guess costs a new one (--web.client-connection-rate).
    return reply.code(401).header('connection', 'close').header('www-authenticate', 'Basic realm="idleprobe"').send({ error: 'unauthorized' });
  });
};

export default fp(auth, { name: 'idleprobe-auth', fastify: '5.x' });
