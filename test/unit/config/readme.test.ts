import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PIPELINE_DOCUMENT, parsePipelineConfig } from '../../../src/config/document.ts';
import { ENV } from '../../../src/config/index.ts';
import { REPO_ROOT } from '../../support/cli.ts';

const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
const configReadme = readFileSync(`${REPO_ROOT}src/config/README.md`, 'utf8');

describe('README', () => {
  it('documents every environment variable the function reads (in src/config/README.md)', () => {
    const table = configReadme.slice(
      configReadme.indexOf('| Variable |'),
      configReadme.indexOf("## The pipeline document's settings"),
    );
    for (const name of Object.values(ENV))
      expect(table, name).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
  });

  it('shows the default pipeline document exactly as the code defines it', () => {
    const shown = readme.match(/A JSON object; every key is optional[\s\S]*?```json\n([\s\S]*?)```/)![1]!;
    expect(JSON.parse(shown)).toEqual(DEFAULT_PIPELINE_DOCUMENT);
    expect(() => parsePipelineConfig(JSON.parse(shown))).not.toThrow();
  });

  it('has the two quick-start commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toMatch(/```sh\nnpm test\n```/);
  });
});
