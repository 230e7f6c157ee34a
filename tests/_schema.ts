/**
 * Validation of pulso's JSON Lines objects against the published schema,
 * `src/digest_schema.json`, with Ajv (JSON Schema 2020-12, formats checked).
 *
 * @module
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import schema from "../src/digest_schema.json" with { type: "json" };

// ajv-formats is CommonJS: its default export is the function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const validate = ajv.compile(schema);

/**
 * Throws, naming every violation, unless `object` is a valid digest object.
 *
 * @example
 * ```ts
 * validateDigestJson(JSON.parse(line));
 * ```
 */
export function validateDigestJson(object: unknown): void {
  if (validate(object)) return;
  throw new Error(
    `Not a valid digest object: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(object)}`,
  );
}
