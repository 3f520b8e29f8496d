/**
 * Writes docs/pipeline.schema.json, the JSON Schema of the pipeline document, from the parser's
 * tables (src/config/schema.ts). test/unit/config/schema.test.ts fails when it is out of date.
 *
 *   node scripts/schema.ts
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PIPELINE_SCHEMA_PATH, pipelineDocumentSchema } from '../src/config/schema.ts';

const path = fileURLToPath(new URL(`../${PIPELINE_SCHEMA_PATH}`, import.meta.url));
writeFileSync(path, `${JSON.stringify(pipelineDocumentSchema(), null, 2)}\n`);
console.log(`Wrote ${PIPELINE_SCHEMA_PATH}`);
