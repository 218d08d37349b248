/** A minimal browser for tests: a cookie jar, manual redirects, and reading forms out of pages. */
export interface Page {
  status: number;
  url: string;
  headers: Headers;
  body: string;
}

export interface Form {
  action: string;
  fields: Record<string, string>;
}

const decode = (s: string): string =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&#x2F;/g, "/").replace(/&#x3D;/g, "=").replace(/&amp;/g, "&");

export class Browser {
  readonly cookies = new Map<string, string>();
  /** Sent with every request: a user agent, or X-Forwarded-For from a trusted proxy. */
  readonly headers: Record<string, string>;

  constructor(headers: Record<string, string> = {}) {
    this.headers = headers;
  }

  private store(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = (pair ?? "").indexOf("=");
      const name = (pair ?? "").slice(0, eq);
      const value = (pair ?? "").slice(eq + 1);
      if (/max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") } : {};
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; rawBody?: string } = {}): Promise<Page> {
    const body = init.form ? new URLSearchParams(init.form).toString() : init.rawBody;
    const res = await fetch(url, {
      method: init.method ?? (body !== undefined ? "POST" : "GET"),
      redirect: "manual",
      headers: { ...this.headers, ...this.header(), ...(body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}), ...init.headers },
      body,
    });
    this.store(res);
    return { status: res.status, url, headers: res.headers, body: await res.text() };
  }

  /** Follows redirects within `stayOn` (an origin); stops at the first response that is not a redirect or leaves it. */
  async follow(url: string, init: Parameters<Browser["request"]>[1] = {}, stayOn?: string): Promise<Page> {
    let page = await this.request(url, init);
    for (let i = 0; i < 10 && page.status >= 300 && page.status < 400; i++) {
      const next = new URL(page.headers.get("location") ?? "", page.url).toString();
      if (stayOn && !next.startsWith(stayOn)) return { ...page, url: next };
      page = await this.request(next);
    }
    return page;
  }

  async submit(form: Form, extra: Record<string, string> = {}): Promise<Page> {
    return this.request(form.action, { form: { ...form.fields, ...extra } });
  }
}

/** The first form of a page, with its hidden and prefilled fields. */
export function readForm(page: Page, index = 0): Form {
  const forms = [...page.body.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
  const match = forms[index];
  if (!match) throw new Error(`no form on page ${page.url} (status ${page.status}):\n${page.body.slice(0, 500)}`);
  const fields: Record<string, string> = {};
  for (const input of (match[2] ?? "").matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? "";
    if (name) fields[decode(name)] = decode(value);
  }
  return { action: new URL(decode(match[1] ?? ""), page.url).toString(), fields };
}
