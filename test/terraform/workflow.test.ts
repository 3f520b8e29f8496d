import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_FILTERS_ENV } from '../../src/handlers/reprocess.ts';
import { placeholders } from '../support/asl.ts';
import { REPO_ROOT } from '../support/cli.ts';
import {
  type Body,
  blocks,
  DOLLAR,
  documentOf,
  loadTerraform,
  statements,
  TERRAFORM_DIR,
  type TfDir,
} from './hcl.ts';

/**
 * The workflow module (terraform/modules/workflow) read as HCL: the definitions it renders, the
 * entry points its functions name, its permissions, and how the deployment and the bootstrap carry
 * it. `terraform test` (its tests/ folder) checks what it plans.
 */
let dirs: Map<string, TfDir>;
let workflow: TfDir;
let imgpipe: TfDir;
let bootstrap: TfDir;
let root: TfDir;

beforeAll(async () => {
  dirs = await loadTerraform();
  workflow = dirs.get('modules/workflow')!;
  imgpipe = dirs.get('modules/imgpipe')!;
  bootstrap = dirs.get('bootstrap')!;
  root = dirs.get('deployment')!;
});

// HCL interpolations in expected values, without a `${` in a plain string literal.
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const imageTasks = () => workflow.locals.image_tasks as Record<string, Body>;
/** The scanner's tasks, by key, from the conditional map in the locals. */
const scannerTasks = () =>
  Object.fromEntries(
    [
      ...String(workflow.locals.scanner_tasks).matchAll(/^\s*([\w-]+)\s*=\s*\{\s*command\s*=\s*"([^"]+)"/gm),
    ].map((m) => [m[1]!, m[2]!]),
  );

/** The `name = ...` keys a templatefile call of a definitions file passes. */
function templateKeys(definition: 'upload' | 'reprocess'): string[] {
  const call = String((workflow.locals.definitions as Record<string, string>)[definition]);
  expect(call).toContain(`templatefile("\${path.module}/definitions/${definition}.asl.json"`);
  return [...call.matchAll(/^\s*([a-z_]+)\s*=/gm)].map((m) => m[1]!).sort();
}

describe('the workflow module', () => {
  it("gives every task function a timeout at least 10 s under its state's, so Lambda's ends a task first", () => {
    // A state that times out first leaves its invocation running while the Catch records the
    // upload `failed`: a late Quarantine then recorded `quarantined` too.
    const scannerTimeouts = Object.fromEntries(
      [
        ...String(workflow.locals.scanner_tasks).matchAll(/^\s*([\w-]+)\s*=\s*\{[^}]*timeout\s*=\s*(\d+)/gm),
      ].map((m) => [m[1]!, Number(m[2])]),
    );
    const timeoutOf = (task: string): number => {
      const value = imageTasks()[task]?.timeout ?? scannerTimeouts[task];
      // The Process function's is var.timeout, at most 110 (its validation).
      if (value === `${DOLLAR}{var.timeout}` || value === 'var.timeout') return 110;
      expect(typeof value, `${task}'s timeout`).toBe('number');
      return value as number;
    };
    const functionOf: Record<string, string> = {
      inspect_function_arn: 'inspect',
      scan_function_arn: 'scan',
      moderate_function_arn: 'moderate',
      process_function_arn: 'process',
      quarantine_function_arn: 'quarantine',
      fail_function_arn: 'fail',
      plan_function_arn: 'reprocess-plan',
      batch_function_arn: 'reprocess-batch',
      summarize_function_arn: 'reprocess-summarize',
    };
    const checked = new Set<string>();
    for (const file of ['upload', 'reprocess']) {
      const text = read(`terraform/modules/workflow/definitions/${file}.asl.json`);
      const visit = (node: unknown): void => {
        if (!node || typeof node !== 'object') return;
        if (Array.isArray(node)) {
          for (const item of node) visit(item);
          return;
        }
        const state = node as Record<string, unknown>;
        const arn = /^\$\{(\w+)\}$/.exec(String(state.Resource ?? ''))?.[1];
        if (state.Type === 'Task' && arn && functionOf[arn]) {
          const task = functionOf[arn]!;
          expect(state.TimeoutSeconds, `${file}: ${task}'s state`).toBeGreaterThanOrEqual(
            timeoutOf(task) + 10,
          );
          checked.add(task);
        }
        for (const value of Object.values(state)) visit(value);
      };
      visit(JSON.parse(text));
    }
    expect([...checked].sort()).toEqual(Object.values(functionOf).sort());
  });

  it('renders the definition files the tests run, with exactly their placeholders', () => {
    expect(templateKeys('upload')).toEqual(placeholders('upload'));
    expect(templateKeys('reprocess')).toEqual(placeholders('reprocess'));
  });

  it('gives the reprocessing batch and Inspect the upload filters, under the name they read', () => {
    // Each function's environment is built in the locals, where its size is measured too.
    const env = String(blocks(workflow.resource.aws_lambda_function!.image!, 'environment')[0]!.variables);
    expect(env).toBe('local.image_environments[each.key]');
    expect(String(workflow.locals.image_environments)).toMatch(
      new RegExp(
        `contains\\(\\["reprocess-batch", "inspect"\\], key\\) \\? \\{\\s*${KEY_FILTERS_ENV} = jsonencode\\(\\[for filter in values\\(var\\.source_notification_filters\\)`,
      ),
    );
  });

  it('gets the deployment’s upload filters, the ones the imgpipe module’s notifications use', () => {
    // One setting for every path: S3's notifications (direct mode), the upload rule and Inspect
    // (workflow mode) and bulk reprocessing (both) hold to the same keys.
    const filters = root.variable.source_notification_filters!;
    expect(filters.type).toBe(imgpipe.variable.source_notification_filters!.type);
    expect(filters.default).toEqual([{}]);
    expect(root.module.imgpipe!.source_notification_filters).toBe('var.source_notification_filters');
    expect(root.module.workflow!.source_notification_filters).toBe(
      '{ for index, filter in var.source_notification_filters : tostring(index) => filter }',
    );
  });

  it('says the deploy workflow passes only the variables it writes to the image file', () => {
    // deploy.yml writes image.tfvars.json with jq; any other variable is the environment's files'.
    const deploy = read('.github/workflows/deploy.yml');
    const object = /jq -n (?:[^\n]*\\\n)+\s*'\{(.*)\}' > "\$IMAGE_FILE"/.exec(deploy)![1] ?? '';
    const written = [...object.matchAll(/(?:^|\}, )([a-z_]+): \{/g)].map((m) => m[1]);
    expect(written).toEqual(['image_digests', 'scanner_image_digests']);
    for (const [name, variable] of Object.entries(root.variable)) {
      if (written.includes(name)) continue;
      expect(String(variable.description), name).not.toMatch(/(Written|Passed) by the deploy workflow/i);
    }
  });

  it('names only entry points the images export', () => {
    const index = read('src/handlers/index.ts');
    for (const [key, task] of Object.entries(imageTasks())) {
      const name = String(task.command).replace(/^index\./, '');
      expect(index, `${key}: ${task.command}`).toMatch(new RegExp(`^export const ${name} = `, 'm'));
    }
    const scanner = read('src/handlers/scanner-index.ts');
    expect(scannerTasks()).toEqual({ scan: 'scanner.handler', 'update-database': 'scanner.update' });
    for (const command of Object.values(scannerTasks()))
      expect(scanner).toMatch(new RegExp(`^export const ${command.replace(/^scanner\./, '')} = `, 'm'));
    // The scanner image is built from the scanner's own bundle.
    expect(read('scanner/Dockerfile')).toMatch(/node scripts\/build\.ts --scanner --outdir \/dist/);
    expect(read('scripts/build.ts')).toMatch(/scanner: join\(root, 'src\/handlers\/scanner-index\.ts'\)/);
  });

  it('keeps index.reprocess nowhere: bulk reprocessing is the Distributed Map', () => {
    for (const tf of dirs.values())
      for (const file of tf.files)
        expect(readFileSync(join(TERRAFORM_DIR, file), 'utf8'), file).not.toMatch(/index\.reprocess"/);
    expect(imgpipe.variable.create_reprocess_function).toBeUndefined();
    expect(imgpipe.resource.aws_lambda_function!.reprocess).toBeUndefined();
  });

  it('runs uploads on Express with execution data logged, and bulk reprocessing on Standard', () => {
    expect(String(workflow.locals.state_machines)).toMatch(/upload = \{ type = "EXPRESS" \}/);
    expect(String(workflow.locals.state_machines)).toMatch(/reprocess = \{ type = "STANDARD" \}/);
    const machine = workflow.resource.aws_sfn_state_machine!.this!;
    expect(machine.logging_configuration[0]).toMatchObject({
      include_execution_data: true,
      level: 'var.log_level',
    });
    expect(machine.tracing_configuration[0].enabled).toBe('var.tracing_enabled');
    const group = workflow.resource.aws_cloudwatch_log_group!.state_machine!;
    expect(group.kms_key_id).toBe('var.kms_key_arn');
  });

  it('starts the upload workflow from the source bucket’s Object Created events, with a dead-letter queue', () => {
    const pattern = String(workflow.resource.aws_cloudwatch_event_rule!.this!.event_pattern);
    expect(pattern).toMatch(/source\s*=\s*\["aws\.s3"\]/);
    expect(pattern).toMatch(/"detail-type"\s*=\s*\["Object Created"\]/);
    expect(pattern).toMatch(/bucket = \{ name = \[var\.source_bucket_name\] \}/);
    const target = workflow.resource.aws_cloudwatch_event_target!.this!;
    expect(target.arn).toBe('aws_sfn_state_machine.this["upload"].arn');
    expect(target.dead_letter_config[0].arn).toBe('aws_sqs_queue.this[0].arn');
    // The imgpipe module sends the bucket's events to EventBridge instead of the function, never both.
    const notification = imgpipe.resource.aws_s3_bucket_notification!.this!;
    expect(notification.eventbridge).toBe('var.source_events_to_eventbridge');
    expect(blocks(notification, 'lambda_function')).toHaveLength(1);
    expect(String(notification.dynamic.lambda_function[0].for_each)).toMatch(
      /if !var\.source_events_to_eventbridge/,
    );
    expect(root.module.imgpipe!.source_events_to_eventbridge).toBe('var.mode == "workflow"');
    expect(root.module.workflow!.upload_workflow_enabled).toBe('var.mode == "workflow"');
    expect(root.variable.mode!.default).toBe('direct');
  });

  it('grants "*" only where the service has no resource-level permission: Rekognition to Moderate alone', () => {
    const noResource = new Set([
      'rekognition:DetectModerationLabels',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
    ]);
    let rekognition: Body[] = [];
    for (const [name, document] of Object.entries(workflow.data.aws_iam_policy_document ?? {})) {
      for (const statement of statements(document)) {
        if (!Array.isArray(statement.resources) || !statement.resources.includes('*')) continue;
        for (const action of statement.actions) expect(noResource, `${name}: ${action}`).toContain(action);
        if (statement.actions.includes('rekognition:DetectModerationLabels'))
          rekognition = [...rekognition, statement];
      }
    }
    expect(rekognition).toHaveLength(1);
    const uses = workflow.data.aws_iam_policy_document!.function!.dynamic.statement.filter((d: Body) =>
      d.content[0].actions.includes('rekognition:DetectModerationLabels'),
    );
    expect(uses.map((d: Body) => d.for_each)).toEqual(['each.key == "moderate" ? [each.key] : []']);
  });

  it('builds the pipeline tasks’ roles on the imgpipe function’s own statements, each on its own log group', () => {
    const document = workflow.data.aws_iam_policy_document!.function!;
    expect(document.source_policy_documents).toBe(
      'contains(keys(local.imgpipe_policies), each.key) ? [local.imgpipe_policies[each.key]] : []',
    );
    // Inspect (the upload's untrusted header) and RecordFailure make nothing: the imgpipe module's
    // narrower documents, without the pipeline's writes and deletions.
    expect(String(workflow.locals.imgpipe_policies).replace(/\s+/g, ' ')).toBe(
      'merge( { for key in local.pipeline_tasks : key => var.pipeline_policy_json }, { inspect = var.inspect_policy_json, fail = var.record_policy_json }, )',
    );
    expect(workflow.locals.pipeline_tasks).toEqual(['process', 'quarantine', 'reprocess-batch']);
    for (const name of ['pipeline', 'inspect', 'record'])
      expect(root.module.workflow![`${name}_policy_json`]).toBe(`module.imgpipe.${name}_policy_json`);
    const logs = statements(document).find((s) => s.sid === 'WriteLogs')!;
    expect(logs.resources).toEqual([`${DOLLAR}{local.log_group_arns[each.key]}:log-stream:*`]);
    // Nothing of the module writes to the source bucket.
    for (const name of Object.keys(workflow.data.aws_iam_policy_document ?? {}))
      for (const s of statements(documentOf(workflow, `data.aws_iam_policy_document.${name}.json`)))
        if (s.actions.some((a: string) => /^s3:(Put|Delete)/.test(a)))
          expect(JSON.stringify(s.resources), name).not.toContain('source_bucket_name');
  });

  it('lets every task of the function image read the pipeline document’s parameter, which each reads at its init', () => {
    // Every function of the image gets the pipeline's environment, IMGPIPE_CONFIG_PARAMETER included.
    expect(String(workflow.locals.task_environment)).toMatch(/^merge\(var\.environment,/);
    expect(workflow.locals.config_parameter).toBe(
      'lookup(var.environment, "IMGPIPE_CONFIG_PARAMETER", null)',
    );
    // The tasks with an imgpipe document have its statements, the parameter among them; the
    // others (the reprocessing plan and summary) a statement of their own.
    const withDocuments = [...(workflow.locals.pipeline_tasks as string[]), 'inspect', 'fail'];
    const others = Object.keys(imageTasks()).filter((task) => !withDocuments.includes(task));
    expect(others).toEqual(expect.arrayContaining(['reprocess-plan', 'reprocess-summarize']));
    const reads = workflow.data.aws_iam_policy_document!.function!.dynamic.statement.filter(
      (d: Body) => d.content[0].sid === 'ReadThePipelineParameter',
    );
    expect(reads).toHaveLength(1);
    expect(reads[0].content[0].actions).toEqual(['ssm:GetParameter']);
    expect(reads[0].for_each).toBe(
      'local.config_parameter_arn != null && contains(keys(local.functions), each.key) && !contains(keys(local.imgpipe_policies), each.key) ? [local.config_parameter_arn] : []',
    );
    expect(reads[0].content[0].resources).toEqual(['statement.value']);
  });

  it('lets Summarize list the results’ folder, so that a map run that wrote no manifest is told from lost results', () => {
    // Without ListBucket S3 answers the GET of a missing manifest with 403, not 404 (NoSuchKey):
    // a map over an empty prefix would fail the run with AccessDenied instead of summarizing 0.
    const lists = workflow.data.aws_iam_policy_document!.function!.dynamic.statement.filter(
      (d: Body) =>
        d.content[0].actions.includes('s3:ListBucket') && String(d.for_each).includes('reprocess-summarize'),
    );
    expect(lists).toHaveLength(1);
    expect(lists[0].for_each).toBe('each.key == "reprocess-summarize" ? [each.key] : []');
    expect(lists[0].content[0].actions).toEqual(['s3:ListBucket']);
    expect(lists[0].content[0].resources).toEqual(['module.bucket.s3_bucket_arn']);
    expect(lists[0].content[0].condition[0]).toMatchObject({
      test: 'StringLike',
      variable: 's3:prefix',
      values: [`${DOLLAR}{local.results_prefix}*`],
    });
  });

  it('lets the bootstrap’s deploy role manage every function, state machine and schedule of it, bounded', () => {
    // Every task function is <deployment>-<task>: the deploy role reaches <deployment>-* functions
    // and their log groups, so a new task needs no change there.
    const tasks = [...Object.keys(imageTasks()), ...Object.keys(scannerTasks())];
    expect(tasks.length).toBeGreaterThan(0);
    const scoped = JSON.stringify(bootstrap.locals.scoped);
    const names = `${DOLLAR}{var.name_prefix}-${DOLLAR}{environment}`;
    expect(scoped).toContain(`:function:${names}-*`);
    expect(scoped).toContain(`:log-group:/aws/lambda/${names}-*`);
    const deploy = ['deploy', 'deploy_platform', 'deploy_extensions'].flatMap((name) =>
      statements(bootstrap.data.aws_iam_policy_document![name]!),
    );
    const sid = (name: string) => deploy.find((s) => s.sid === name);
    expect(sid('StateMachines')?.actions).toContain('states:CreateStateMachine');
    expect(sid('Schedules')?.actions).toContain('scheduler:CreateSchedule');
    expect(sid('PassWorkflowRoles')?.condition[0].values).toEqual([
      'events.amazonaws.com',
      'scheduler.amazonaws.com',
      'states.amazonaws.com',
    ]);
    // What the module's roles do stays within the permissions boundary of the roles the deploy role creates.
    const allowed = new Set(
      statements(bootstrap.data.aws_iam_policy_document!.function_boundary!).flatMap(
        (s) => s.actions as string[],
      ),
    );
    for (const [name, document] of Object.entries(workflow.data.aws_iam_policy_document ?? {}))
      for (const s of statements(document))
        for (const action of s.actions as string[])
          if (
            action !== 'sts:AssumeRole' &&
            action !== 'sqs:SendMessage' &&
            !name.endsWith('assume_role') &&
            name !== 'queue'
          )
            expect([...allowed], `${name}: ${action}`).toContain(action);
  });

  it('keeps the release roles of the imgpipe module within the same boundary', () => {
    const allowed = new Set(
      statements(bootstrap.data.aws_iam_policy_document!.function_boundary!).flatMap(
        (s) => s.actions as string[],
      ),
    );
    for (const name of ['codedeploy', 'release_check'])
      for (const s of statements(imgpipe.data.aws_iam_policy_document![name]!))
        for (const action of s.actions as string[])
          expect([...allowed], `${name}: ${action}`).toContain(action);
  });
});
