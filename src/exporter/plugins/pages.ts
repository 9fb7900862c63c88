// The status pages for people: the fleet overview at `/`, a page per target at `/targets/:name`,
// and their stylesheet and icon under /assets/. Thin: parse the query, ask the page renderer
// (../pages.ts), send with a strict Content-Security-Policy (no script, nothing but this daemon).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { PageRenderer, RenderedPage } from '../pages.ts';
import { DEFAULT_DAYS } from '../pages.ts';
import { HttpError, NAME_PATTERN, allowOnly } from '../http-error.ts';
import { DEFAULT_REFRESH_SECONDS, FAVICON_PATH, MAX_REFRESH_SECONDS, MIN_REFRESH_SECONDS, PAGE_CSP, STYLESHEET_PATH } from '../../pictures/layout.ts';
import { FAVICON_SVG, STYLESHEET } from '../../pictures/style.ts';
import { DEFAULT_SORT, SORT_KEYS, type SortKey } from '../../pictures/overview.ts';

export interface PagesOptions {
  pages: PageRenderer;
  /** For the 404 of a target another shard serves (which one). */
  notServed: (name: string) => HttpError;
}

const REFRESH = { type: 'integer', minimum: 0, maximum: MAX_REFRESH_SECONDS, default: DEFAULT_REFRESH_SECONDS } as const;

/** 0 turns the self-refresh off; anything else must be at least MIN_REFRESH_SECONDS. */
function checkRefresh(refresh: number): number {
  if (refresh !== 0 && refresh < MIN_REFRESH_SECONDS) throw new HttpError(400, `refresh must be 0 (off) or at least ${MIN_REFRESH_SECONDS} seconds, not ${refresh}`);
  return refresh;
}

async function sendPage(req: FastifyRequest, reply: FastifyReply, page: RenderedPage) {
  reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache')
    .header('vary', 'Accept-Encoding');
  if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(await page.gzip());
  return reply.send(page.bytes);
}

const pages: FastifyPluginAsync<PagesOptions> = async (app, { pages: renderer, notServed }) => {
  app.get<{ Querystring: { sort: SortKey; order: 'asc' | 'desc'; refresh: number } }>(
    '/',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            sort: { type: 'string', enum: [...SORT_KEYS], default: DEFAULT_SORT.key },
            order: { type: 'string', enum: ['asc', 'desc'], default: DEFAULT_SORT.order },
            refresh: REFRESH,
          },
        },
      },
    },
    async (req, reply) => sendPage(req, reply, renderer.overview({ key: req.query.sort, order: req.query.order }, checkRefresh(req.query.refresh))),
  );
  allowOnly(app, '/', ['GET']);

  app.get<{ Params: { name: string }; Querystring: { days: number; refresh: number } }>(
    '/targets/:name',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } },
        querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 365, default: DEFAULT_DAYS }, refresh: REFRESH } },
      },
    },
    async (req, reply) => {
      const page = renderer.target(req.params.name, req.query.days, checkRefresh(req.query.refresh));
      if (!page) throw notServed(req.params.name);
      return sendPage(req, reply, page);
    },
  );
  allowOnly(app, '/targets/:name', ['GET']);

  // Content-addressed names: a changed stylesheet gets a new URL, so these may be cached for good.
  for (const [url, type, body] of [
    [STYLESHEET_PATH, 'text/css; charset=utf-8', STYLESHEET],
    [FAVICON_PATH, 'image/svg+xml', FAVICON_SVG],
  ] as const) {
    app.get(url, async (_req, reply) => reply.type(type).header('cache-control', 'public, max-age=31536000, immutable').header('x-content-type-options', 'nosniff').send(body));
    allowOnly(app, url, ['GET']);
  }
};

export default pages;
