// Who may talk to the daemon: the web config's TLS client-certificate policy and basic auth, on
// every route. Registered with fastify-plugin so its hook applies to the whole app, not only to
// routes inside this plugin. Repeated failures are logged at most once a minute per kind.
import type { TLSSocket } from 'node:tls';
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import { BasicAuthChecker } from '../basic-auth.ts';
import type { WebConfig } from '../web-config.ts';
import type { RateLimitedLog } from '../../log.ts';

export interface AuthOptions {
  webConfig?: WebConfig;
  bcrypt: { maxConcurrent: number; maxQueue: number };
  failures: RateLimitedLog;
}

const auth: FastifyPluginAsync<AuthOptions> = async (app, { webConfig, bcrypt, failures }) => {
  const tls = webConfig?.tls ?? null;
  const checker = new BasicAuthChecker(webConfig?.basicAuthUsers ?? new Map(), bcrypt);
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
    const result = await checker.check(req.headers.authorization);
    if (result === 'ok') return;
    if (result === 'busy') {
      failures.warn('auth-busy', `HTTP basic auth: too many unverified logins at once; answered 429 (from ${req.ip})`);
      return reply.code(429).header('retry-after', '1').send({ error: 'too many authentication attempts at once; retry later' });
    }
    failures.warn('auth-denied', `HTTP basic auth failed from ${req.ip} (401)`);
    return reply.code(401).header('www-authenticate', 'Basic realm="idleprobe"').send({ error: 'unauthorized' });
  });
};

export default fp(auth, { name: 'idleprobe-auth', fastify: '5.x' });
