/* JSON schema shorthands for the routes: every body, query and parameter is declared, which both
 * validates requests (malformed input is a 400 with a stable code before any handler runs) and feeds the
 * OpenAPI document. */

export const str = (maxLength = 200, extra: object = {}) => ({ type: "string", minLength: 1, maxLength, ...extra });
export const int = (minimum = 0, maximum = 2 ** 31 - 1) => ({ type: "integer", minimum, maximum });
export const arr = (items: object, maxItems = 100) => ({ type: "array", items, maxItems });
export const obj = (properties: Record<string, object>, required: string[] = []) => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});
export const name = str(64);
export const sha = str(64, { pattern: "^[0-9a-f]{64}$" });
export const idParams = obj({ id: int(1) }, ["id"]);
export const nameParams = obj({ name }, ["name"]);
