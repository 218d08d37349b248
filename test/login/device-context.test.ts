import { describe, expect, it } from "vitest";
import { describeDevice } from "../../src/login/device-context.ts";

const ua = {
  iphone: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  android: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
  linux: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
  windowsEdge: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0",
  ipad: "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
};

describe("describing the device from what the browser sends", () => {
  it.each([
    ["an iPhone", ua.iphone, undefined, { mobile: true, os: "iOS", browser: "Mobile Safari" }],
    ["an Android phone", ua.android, undefined, { mobile: true, os: "Android", browser: "Chrome" }],
    ["a tablet, as mobile", ua.ipad, undefined, { mobile: true, os: "iOS", browser: "Mobile Safari" }],
    ["a Linux desktop", ua.linux, undefined, { mobile: false, os: "Linux", browser: "Chrome" }],
    ["Edge on Windows", ua.windowsEdge, "?0", { mobile: false, os: "Windows", browser: "Edge" }],
    ["a desktop agent whose client hint says mobile, as mobile", ua.linux, "?1", { mobile: true, os: "Linux", browser: "Chrome" }],
    ["a phone agent whose client hint says desktop, as mobile (either signal is enough)", ua.iphone, "?0", { mobile: true, os: "iOS", browser: "Mobile Safari" }],
    ["an agent it cannot read, as missing rather than desktop", "curl/8.5.0", undefined, { mobile: null, os: null, browser: null }],
    ["no agent at all, as missing", undefined, undefined, { mobile: null, os: null, browser: null }],
    ["no agent but a mobile client hint, as mobile", undefined, "?1", { mobile: true, os: null, browser: null }],
    ["a client hint alone saying desktop, as desktop", "", "?0", { mobile: false, os: null, browser: null }],
  ])("reads %s", (_name, agent, hint, expected) => {
    expect(describeDevice(agent, hint)).toEqual(expected);
  });

  it("bounds its work on an oversized agent", () => {
    expect(describeDevice(`${ua.iphone}${" x".repeat(50_000)}`, undefined)).toMatchObject({ mobile: true, os: "iOS" });
  });
});
