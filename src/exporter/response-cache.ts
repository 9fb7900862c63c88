// A rendered response kept until the daemon changes (the way /metrics keeps its body): the JSON of
// 1,000 targets is ~1.5 MB and the landing page is rendered from the same snapshots, so rendering
// them per request let a flood of requests (or one connection pipelining hundreds) multiply that
// cost in memory and CPU. Concurrent requests for the same version share one rendering, and every
// response sends the same Buffer (the socket writes it without a copy per connection).
export class VersionedResponse {
  private cached: { version: string | number; body: Promise<Buffer> } | null = null;
  /** Renderings done (for tests and the benchmark). */
  renders = 0;

  constructor(private readonly render: () => string | Promise<string>) {}

  /** The body rendered for `version` (anything that changes when the content would). */
  body(version: string | number): Promise<Buffer> {
    if (this.cached && this.cached.version === version) return this.cached.body;
    this.renders++;
    const body = Promise.resolve()
      .then(() => this.render())
      .then((text) => Buffer.from(text, 'utf8'));
    const entry = { version, body };
    this.cached = entry;
    body.catch(() => {
      if (this.cached === entry) this.cached = null;
    });
    return body;
  }
}
