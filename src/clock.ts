/** Injected time: nothing else in src/ reads the system clock, so tests can move time. */
export interface Clock {
  now(): number; // milliseconds since the epoch
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can set and advance. */
export function fixedClock(start: number): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
  };
}

export const isoSeconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** For people: "2026-11-23 09:30" (UTC, to the minute). */
export const utcMinute = (at: number | string): string => new Date(at).toISOString().slice(0, 16).replace("T", " ");

/** Real time plus an offset tests can advance (for servers talking to peers on real time). */
export function offsetClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}
