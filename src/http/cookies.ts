import { parseCookie, stringifySetCookie } from "cookie";
import type { Request, Response } from "express";

export interface CookieJar {
  get(req: Request, name: CookieName): string | undefined;
  /** `maxAgeSeconds`: a positive whole number of seconds; none for a cookie that ends with the browser session. */
  set(res: Response, name: CookieName, value: string, maxAgeSeconds?: number): void;
  clear(res: Response, name: CookieName): void;
}

export type CookieName = "session" | "browser" | "device";

/** `__Host-` cookies need Secure, so the prefix is used only when Gatehouse is served over https. */
export function cookieJar(secure: boolean): CookieJar {
  const names: Record<CookieName, string> = {
    session: secure ? "__Host-gh_session" : "gh_session",
    browser: secure ? "__Host-gh_browser" : "gh_browser",
    device: secure ? "__Host-gh_device" : "gh_device",
  };
  const base = { httpOnly: true, secure, sameSite: "lax", path: "/" } as const;
  const append = (res: Response, value: string) => res.append("Set-Cookie", value);
  return {
    get(req, name) {
      const header = req.headers.cookie;
      if (!header || header.length > 8192) return undefined;
      const v = parseCookie(header)[names[name]];
      return v && v.length <= 512 ? v : undefined;
    },
    set(res, name, value, maxAgeSeconds) {
      // Max-Age is in seconds (express's res.cookie takes milliseconds). Without it the cookie
      // lasts as long as the browser session; 0 would delete it, which is `clear`'s job.
      if (maxAgeSeconds !== undefined && !(Number.isSafeInteger(maxAgeSeconds) && maxAgeSeconds > 0)) throw new TypeError(`cookie ${name}: Max-Age must be a positive whole number of seconds, not ${maxAgeSeconds}`);
      append(res, stringifySetCookie({ name: names[name], value, ...base, ...(maxAgeSeconds !== undefined ? { maxAge: maxAgeSeconds } : {}) }));
    },
    clear(res, name) {
      append(res, stringifySetCookie({ name: names[name], value: "", ...base, maxAge: 0 }));
    },
  };
}
