// The HTML document around a page or a report. Served pages link the stylesheet (strict CSP: no
// inline style, no script at all) and refresh themselves with <meta http-equiv=refresh>, never
// faster than MIN_REFRESH_SECONDS; a report inlines the stylesheet and carries its own CSP that
// allows that stylesheet by hash and nothing else — no script, no request — so it reads the same
// from a ticket attachment, offline.
import { esc } from './escape.ts';
import { FAVICON_HASH, STYLESHEET, STYLESHEET_CSP_HASH, STYLESHEET_HASH } from './style.ts';

/** The pages never reload themselves more often than this (issue 20: no polling faster than 10 s). */
export const MIN_REFRESH_SECONDS = 10;
export const DEFAULT_REFRESH_SECONDS = 30;
export const MAX_REFRESH_SECONDS = 3600;

/** Where `serve` serves the stylesheet: its content hash in the name, so it can be cached for good. */
export const STYLESHEET_PATH = `/assets/idleprobe-${STYLESHEET_HASH}.css`;
export const FAVICON_PATH = `/assets/favicon-${FAVICON_HASH}.svg`;

/** The Content-Security-Policy of every served page: only the daemon itself, no script, no frames. */
export const PAGE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A report's CSP: its one inline stylesheet, nothing else (a report never fetches or runs anything). */
export const REPORT_CSP = `default-src 'none'; style-src ${STYLESHEET_CSP_HASH}; img-src data:; base-uri 'none'; form-action 'none'`;

export interface DocumentParts {
  title: string;
  /** The header bar's right-hand text (version, time). */
  meta: string;
  nav: { href: string; label: string }[];
  body: string;
}

function header(p: DocumentParts, home: string | null): string {
  const brand = home ? `<a href="${esc(home)}">idleprobe</a>` : 'idleprobe';
  const nav = p.nav.length ? `<nav>${p.nav.map((n) => `<a href="${esc(n.href)}">${esc(n.label)}</a>`).join('')}</nav>` : '';
  return `<header class="top"><h1>${brand}</h1>${nav}<span class="meta">${esc(p.meta)}</span></header>`;
}

/** A page of `serve`: linked stylesheet, optional self-refresh (0 = off). */
export function servedDocument(p: DocumentParts, refreshSeconds: number): string {
  const refresh = refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${Math.max(MIN_REFRESH_SECONDS, Math.round(refreshSeconds))}">` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${esc(p.title)}</title><link rel="icon" href="${FAVICON_PATH}" type="image/svg+xml"><link rel="stylesheet" href="${STYLESHEET_PATH}"></head>
<body>${header(p, '/')}<main>${p.body}</main></body></html>
`;
}

/** A self-contained report: inline stylesheet allowed by hash, nothing loaded, nothing run. */
export function reportDocument(p: DocumentParts): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${esc(REPORT_CSP)}">
<title>${esc(p.title)}</title><link rel="icon" href="data:,"><style>${STYLESHEET}</style></head>
<body>${header(p, null)}<main>${p.body}</main></body></html>
`;
}
