import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../support/cli.ts';

/**
 * aws-xray-sdk-core (under Powertools Tracer) creates its context namespace when it is loaded: an
 * async hook with a destroy callback, which every promise of the process then pays for (the SDK
 * makes many). Where tracing is off (outside Lambda, or POWERTOOLS_TRACE_ENABLED=false) the
 * function must not load it. Each case runs in a fresh process, since loading is once per process.
 */
function depsIn(env: Record<string, string>): { destroyHooks: number; tracer: boolean } {
  const script = `
    const hooks = require('node:async_hooks');
    const create = hooks.createHook;
    let destroyHooks = 0;
    hooks.createHook = (callbacks) => { if (callbacks.destroy) destroyHooks++; return create(callbacks); };
    import(${JSON.stringify(`${REPO_ROOT}src/handlers/lambda.ts`)})
      .then(({ createLambdaDeps }) => createLambdaDeps(${JSON.stringify({ IMGPIPE_OUTPUT_BUCKET: 'out', _HANDLER: 'index.api', ...env })}))
      .then((deps) => console.log(JSON.stringify({ destroyHooks, tracer: deps.tracer !== undefined })));`;
  const { AWS_EXECUTION_ENV: _, POWERTOOLS_TRACE_ENABLED: __, ...rest } = process.env;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...rest, ...env, AWS_REGION: 'us-east-1', AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR' },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('the tracer', () => {
  it('is not loaded outside Lambda', () => {
    expect(depsIn({})).toEqual({ destroyHooks: 0, tracer: false });
  });

  it('is not loaded in Lambda with POWERTOOLS_TRACE_ENABLED=false', () => {
    expect(depsIn({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x', POWERTOOLS_TRACE_ENABLED: 'false' })).toEqual(
      {
        destroyHooks: 0,
        tracer: false,
      },
    );
  });

  it('is loaded and used in Lambda with tracing on', () => {
    const { destroyHooks, tracer } = depsIn({ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x' });
    expect(tracer).toBe(true);
    expect(destroyHooks).toBeGreaterThan(0);
  });
});
