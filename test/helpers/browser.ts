// A minimal browser for end-to-end tests over HTTP: a cookie jar and manual redirect following, so every
// hop of the flow can be inspected (and replayed, or sent without the cookie).
export interface Hop {
  url: string;
  status: number;
  location?: string;
  body: string;
  headers: Headers;
}

export class TestBrowser {
  readonly cookies = new Map<string, string>();

  private remember(headers: Headers) {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /max-age=0/i.test(a.trim()) || (/^expires=/i.test(a.trim()) && Date.parse(a.trim().slice(8)) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /**
   * `origin`: the page the form was on, sent as browsers do on every POST (the request's own origin unless given;
   * `null` sends none, as a non-browser client would).
   */
  async request(url: string, init: { method?: string; form?: Record<string, string | string[]>; origin?: string | null } = {}): Promise<Hop> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (init.form) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form)) for (const item of ([] as string[]).concat(v)) form.append(k, item);
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const origin = init.origin === undefined ? new URL(url).origin : init.origin;
      if (origin) headers.origin = origin;
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.remember(res.headers);
    const location = res.headers.get('location') ?? undefined;
    return {
      url,
      status: res.status,
      location: location ? new URL(location, url).toString() : undefined,
      body: await res.text(),
      headers: res.headers,
    };
  }

  /** Follows redirects from `url` until a hop whose location satisfies `stop`, or a non-redirect answer. */
  async follow(url: string, stop: (location: string) => boolean = () => false, init: { method?: string; form?: Record<string, string | string[]>; origin?: string | null } = {}): Promise<Hop> {
    let hop = await this.request(url, init);
    for (let i = 0; i < 20 && hop.location && !stop(hop.location); i++) hop = await this.request(hop.location);
    return hop;
  }
}

/** Debian's Chromium through playwright-core, with the flags this machine needs (no sandbox as root, no network chatter). */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}
