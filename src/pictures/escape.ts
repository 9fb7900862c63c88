// Escaping for everything the pages and reports write into HTML or SVG: text content and
// double-quoted attribute values alike. Names, hop addresses, error texts and server labels come
// from configs, the network and the command line; none of them may open a tag, an attribute, an
// entity or a CDATA section (`]]>` loses its `>`), so every string goes through here, once.
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A path segment of a URL inside an HTML attribute: percent-encoded, then escaped. */
export function escUrlSegment(value: string): string {
  return esc(encodeURIComponent(value));
}
