import express from "express";
import type { Csrf } from "../../http/csrf.ts";
import { render } from "../../http/render.ts";
import type { SessionManager } from "../../login/sessions.ts";
import type { AppRepository } from "../../store/apps.ts";

/** The home page: the signed-in user's app launcher, or a sign-in link. */
export function homeRouter(deps: { sessions: SessionManager; apps: AppRepository; csrf: Csrf; demo: boolean }): express.Router {
  const r = express.Router();
  r.get("/", async (req, res) => {
    const current = await deps.sessions.current(req);
    const apps = current ? await deps.apps.list() : [];
    render(res, "home", {
      title: "Home",
      user: current?.user ?? null,
      apps: apps.map((a) => ({ id: a.id, name: a.name })),
      csrf: current ? deps.csrf.token("session", current.session.idHash) : "",
      demo: deps.demo,
    });
  });
  return r;
}
