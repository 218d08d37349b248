import { Eta } from "eta";
import { join } from "node:path";
import type { Response } from "express";

const eta = new Eta({ views: join(import.meta.dirname, "..", "..", "views"), cache: true, autoEscape: true });

export interface PageData {
  title: string;
  [key: string]: unknown;
}

/** Renders a page from views/ (auto-escaped) with the given status. */
export function render(res: Response, view: string, data: PageData, status = 200): void {
  res.status(status).type("html").send(eta.render(view, data));
}
