import { randomBytes } from "node:crypto";
import type { Db } from "./db.ts";

export const nameIdFormats = {
  email: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
  persistent: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
  unspecified: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
} as const;
export type NameIdFormat = keyof typeof nameIdFormats;

export const userFields = ["id", "username", "email", "firstName", "lastName", "groups"] as const;
export type UserField = (typeof userFields)[number];

export interface AcsEndpoint {
  url: string;
  index: number;
  isDefault: boolean;
}
export interface AttributeMapping {
  name: string;
  field: UserField;
}

export interface App {
  id: string;
  name: string;
  entityId: string;
  acs: AcsEndpoint[]; // HTTP-POST only: the only binding we deliver responses over
  sloUrl: string | null;
  sloBinding: "HTTP-Redirect" | "HTTP-POST" | null;
  nameIdFormat: NameIdFormat;
  attributes: AttributeMapping[];
  signAssertion: boolean;
  signResponse: boolean;
  wantRequestsSigned: boolean;
  certPem: string | null;
  builtin: string | null;
  createdAt: number;
}

export type NewApp = Omit<App, "id" | "createdAt" | "builtin"> & { builtin?: string | null };

interface Row {
  id: string;
  name: string;
  entity_id: string;
  acs_json: string;
  slo_url: string | null;
  slo_binding: App["sloBinding"];
  nameid_format: NameIdFormat;
  attributes_json: string;
  sign_assertion: number;
  sign_response: number;
  want_requests_signed: number;
  cert_pem: string | null;
  builtin: string | null;
  created_at: number;
}

const toApp = (r: Row): App => ({
  id: r.id,
  name: r.name,
  entityId: r.entity_id,
  acs: JSON.parse(r.acs_json) as AcsEndpoint[],
  sloUrl: r.slo_url,
  sloBinding: r.slo_binding,
  nameIdFormat: r.nameid_format,
  attributes: JSON.parse(r.attributes_json) as AttributeMapping[],
  signAssertion: r.sign_assertion === 1,
  signResponse: r.sign_response === 1,
  wantRequestsSigned: r.want_requests_signed === 1,
  certPem: r.cert_pem,
  builtin: r.builtin,
  createdAt: r.created_at,
});

export class DuplicateAppError extends Error {}

export class AppRepository {
  readonly #insert;
  readonly #byId;
  readonly #byEntityId;
  readonly #byBuiltin;
  readonly #all;
  readonly #remove;

  constructor(db: Db) {
    this.#insert = db.prepare(
      `INSERT INTO apps (id, name, entity_id, acs_json, slo_url, slo_binding, nameid_format, attributes_json,
         sign_assertion, sign_response, want_requests_signed, cert_pem, builtin, created_at)
       VALUES (@id, @name, @entityId, @acs, @sloUrl, @sloBinding, @nameIdFormat, @attributes,
         @signAssertion, @signResponse, @wantRequestsSigned, @certPem, @builtin, @now)`,
    );
    this.#byId = db.prepare<[string], Row>("SELECT * FROM apps WHERE id = ?");
    this.#byEntityId = db.prepare<[string], Row>("SELECT * FROM apps WHERE entity_id = ?");
    this.#byBuiltin = db.prepare<[string], Row>("SELECT * FROM apps WHERE builtin = ?");
    this.#all = db.prepare<[], Row>("SELECT * FROM apps ORDER BY name, id");
    this.#remove = db.prepare<[string]>("DELETE FROM apps WHERE id = ?");
  }

  async add(a: NewApp, now: number): Promise<App> {
    const id = `app_${randomBytes(5).toString("hex")}`;
    try {
      this.#insert.run({
        id,
        name: a.name,
        entityId: a.entityId,
        acs: JSON.stringify(a.acs),
        sloUrl: a.sloUrl,
        sloBinding: a.sloBinding,
        nameIdFormat: a.nameIdFormat,
        attributes: JSON.stringify(a.attributes),
        signAssertion: a.signAssertion ? 1 : 0,
        signResponse: a.signResponse ? 1 : 0,
        wantRequestsSigned: a.wantRequestsSigned ? 1 : 0,
        certPem: a.certPem,
        builtin: a.builtin ?? null,
        now,
      });
    } catch (e) {
      if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") throw new DuplicateAppError(`an app with entity ID ${a.entityId} is already registered`);
      throw e;
    }
    return (await this.byId(id)) as App;
  }

  async byId(id: string): Promise<App | undefined> {
    const r = this.#byId.get(id);
    return r && toApp(r);
  }

  async byEntityId(entityId: string): Promise<App | undefined> {
    const r = this.#byEntityId.get(entityId);
    return r && toApp(r);
  }

  async builtin(name: string): Promise<App | undefined> {
    const r = this.#byBuiltin.get(name);
    return r && toApp(r);
  }

  async list(): Promise<App[]> {
    return this.#all.all().map(toApp);
  }

  async remove(id: string): Promise<boolean> {
    return this.#remove.run(id).changes === 1;
  }
}
