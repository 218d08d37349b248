import UAParser from "ua-parser-js";

export interface DeviceDescription {
  mobile: boolean | null;
  os: string | null;
  browser: string | null;
}

// ua-parser-js truncates at 500 characters itself; cutting first bounds our own work too.
const maxUserAgent = 500;

/**
 * What the browser says about itself: both signals are attacker-controlled, so this can only
 * ever narrow access (block mobile), never prove a device. Either signal saying mobile means
 * mobile. An agent the parser cannot read is `null` (missing), never a desktop.
 */
export function describeDevice(userAgent: string | undefined, secChUaMobile: string | undefined): DeviceDescription {
  const ua = (userAgent ?? "").slice(0, maxUserAgent);
  const result = new UAParser(ua).getResult();
  const browser = result.browser.name ?? null;
  const os = result.os.name ?? null;
  const hint = secChUaMobile === "?1" ? true : secChUaMobile === "?0" ? false : null;
  const type = result.device.type;
  const uaMobile = type === "mobile" || type === "tablet" || type === "wearable" ? true : browser || os ? false : null;
  const mobile = hint === true || uaMobile === true ? true : (uaMobile ?? hint);
  return { mobile, os, browser };
}
