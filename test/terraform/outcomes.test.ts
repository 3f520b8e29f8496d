import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import schema from '../../src/bus/image-event.schema.json' with { type: 'json' };
import { DETAIL_TYPES, EVENT_SOURCE } from '../../src/bus/types.ts';
import { STATUS_TABLE, statusTableDefinition } from '../../src/status/dynamodb.ts';
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

// HCL interpolations in expected values, without a `${` in a plain string literal.

// Issue #8 in the module: the status table, outcome events on EventBridge, image alerts on SNS, S3
// removals, X-Ray and the pipeline parameter; and what the bootstrap must allow for them.

let dirs: Map<string, TfDir>;
let imgpipe: TfDir;
let bootstrap: TfDir;
let root: TfDir;

function dir(path: string): TfDir {
  const found = dirs.get(path);
  if (!found) throw new Error(`no Terraform files in terraform/${path}`);
  return found;
}

beforeAll(async () => {
  dirs = await loadTerraform();
  imgpipe = dir('modules/imgpipe');
  bootstrap = dir('bootstrap');
  root = dir('deployment');
});

/** A module expression that is a local, resolved to the local's literal value. */
function resolve(value: unknown): unknown {
  const match = typeof value === 'string' ? value.match(/^local\.(\w+)$/) : null;
  return match ? imgpipe.locals[match[1]!] : value;
}

/** The statements of a role's policy, with the documents it merges. */
function roleStatements(name: 'this'): Body[] {
  return statements(documentOf(imgpipe, imgpipe.resource.aws_iam_role_policy![name]!.policy));
}

/**
 * The outcomes document's statements by sid, with the `for_each` of the dynamic ones: its own and
 * those of the records document it is built on (what the workflow's Inspect and RecordFailure get).
 */
function outcomeGrants(): Record<string, { actions: string[]; resources: unknown; when?: string }> {
  const grants: Record<string, { actions: string[]; resources: unknown; when?: string }> = {};
  for (const name of ['records', 'outcomes']) {
    const document = imgpipe.data.aws_iam_policy_document![name]!;
    for (const s of document.statement ?? []) grants[s.sid] = { actions: s.actions, resources: s.resources };
    for (const use of document.dynamic?.statement ?? []) {
      const s = use.content[0];
      grants[s.sid] = { actions: s.actions, resources: s.resources, when: use.for_each };
    }
  }
  return grants;
}

describe('the status table', () => {
  const table = () => imgpipe.resource.aws_dynamodb_table!.this!;

  it('has the shape src/status/dynamodb.ts defines (STATUS_TABLE, statusTableDefinition)', () => {
    const wanted = statusTableDefinition('imgpipe-test-status');
    const t = table();
    expect(t.billing_mode).toBe(wanted.BillingMode);
    expect(t.hash_key).toBe(STATUS_TABLE.partitionKey);
    expect(wanted.KeySchema).toEqual([{ AttributeName: t.hash_key, KeyType: 'HASH' }]);
    expect(t.range_key, 'the table has a partition key only').toBeUndefined();
    const attributes = (t.attribute as Body[]).map((a) => ({ AttributeName: a.name, AttributeType: a.type }));
    expect(attributes.sort((a, b) => a.AttributeName.localeCompare(b.AttributeName))).toEqual(
      [...wanted.AttributeDefinitions!].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
    );

    const indexes = t.global_secondary_index as Body[];
    expect(indexes).toHaveLength(wanted.GlobalSecondaryIndexes!.length);
    const [index] = indexes;
    const [definition] = wanted.GlobalSecondaryIndexes!;
    expect(resolve(index!.name)).toBe(STATUS_TABLE.index.name);
    expect(index!.name, 'named once, for the table and the IAM grant').toBe('local.status_index_name');
    expect([
      { AttributeName: index!.hash_key, KeyType: 'HASH' },
      { AttributeName: index!.range_key, KeyType: 'RANGE' },
    ]).toEqual(definition!.KeySchema);
    expect(index!.projection_type).toBe(definition!.Projection!.ProjectionType);
    expect(t.local_secondary_index).toBeUndefined();
    expect(t.ttl, 'items are kept: no TTL').toBeUndefined();
  });

  it('recovers to any point, is encrypted with the module key, and is protected from deletion by a variable', () => {
    const t = table();
    expect(t.point_in_time_recovery).toEqual([{ enabled: true }]);
    expect(t.server_side_encryption).toEqual([{ enabled: true, kms_key_arn: 'module.kms.key_arn' }]);
    expect(t.deletion_protection_enabled).toBe('var.status_table_deletion_protection');
    expect(imgpipe.variable.status_table_deletion_protection).toMatchObject({ type: 'bool', default: true });
    expect(t.name).toBe('local.status_table_name');
    expect(imgpipe.locals.status_table_name).toBe(`${DOLLAR}{var.name}-status`);
  });

  it('is optional: create_status_table (default true) toggles the table, its grants, alarm and variable', () => {
    expect(imgpipe.variable.create_status_table).toMatchObject({
      type: 'bool',
      default: true,
      nullable: false,
    });
    const toggle = 'var.create_status_table ? 1 : 0';
    expect(table().count).toBe(toggle);
    expect(imgpipe.resource.aws_cloudwatch_metric_alarm!.status_throttles!.count).toBe(toggle);
    const grants = outcomeGrants();
    for (const sid of ['ReadAndWriteStatusItems', 'ListStatusItemsByTheIndex'])
      expect(grants[sid]!.when, sid).toMatch(/^var\.create_status_table \? \[/);
    expect(String(imgpipe.locals.environment)).toMatch(
      /var\.create_status_table \? \{\s*IMGPIPE_STATUS_TABLE = aws_dynamodb_table\.this\[0\]\.name\s*\} : \{\}/,
    );
  });

  it('is passed through the deployment root, protected in prod', () => {
    for (const name of ['create_status_table', 'status_table_deletion_protection'])
      expect(root.module.imgpipe![name], name).toBe(`var.${name}`);
    expect(root.variable.status_table_deletion_protection).toMatchObject({ type: 'bool', default: false });
    const prod = JSON.parse(readFileSync(join(TERRAFORM_DIR, 'envs/prod/terraform.tfvars.json'), 'utf8'));
    expect(prod.status_table_deletion_protection).toBe(true);
    expect(root.output.status_table_name!.value).toBe('module.imgpipe.status_table_name');
  });
});

describe('the functions’ access to status, events and the pipeline parameter', () => {
  it('is one document, in the pipeline document that the function role and the workflow tasks use', () => {
    const pipeline = imgpipe.data.aws_iam_policy_document!.pipeline!;
    expect(pipeline.source_policy_documents).toContain('data.aws_iam_policy_document.outcomes.json');
    expect(imgpipe.data.aws_iam_policy_document!.outcomes!.source_policy_documents).toEqual([
      'data.aws_iam_policy_document.records.json',
    ]);
    expect(imgpipe.data.aws_iam_policy_document!.this!.source_policy_documents).toEqual([
      'data.aws_iam_policy_document.pipeline.json',
    ]);
    expect(imgpipe.output.pipeline_policy_json!.value).toBe('data.aws_iam_policy_document.pipeline.json');
    const sids = roleStatements('this').map((s) => s.sid);
    for (const sid of Object.keys(outcomeGrants())) expect(sids, sid).toContain(sid);
  });

  it('names exact actions on exact ARNs: the table, its index, the bus, the parameter', () => {
    const grants = outcomeGrants();
    expect(grants).toEqual({
      ReadAndWriteStatusItems: {
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: ['statement.value'],
        when: 'var.create_status_table ? [aws_dynamodb_table.this[0].arn] : []',
      },
      ListStatusItemsByTheIndex: {
        actions: ['dynamodb:Query'],
        resources: ['statement.value'],
        when: `var.create_status_table ? ["${DOLLAR}{aws_dynamodb_table.this[0].arn}/index/${DOLLAR}{local.status_index_name}"] : []`,
      },
      PutOutcomeEvents: { actions: ['events:PutEvents'], resources: ['local.event_bus_arn'] },
      ReadThePipelineParameter: {
        actions: ['ssm:GetParameter'],
        resources: ['statement.value'],
        when: 'var.pipeline_config_parameter_name == null ? [] : [local.pipeline_config_parameter_arn]',
      },
    });
    // The bus the functions put on is the one the alerts rule listens to.
    expect(imgpipe.locals.event_bus_arn).toBe(
      'var.event_bus_name == null ? aws_cloudwatch_event_bus.this[0].arn : data.aws_cloudwatch_event_bus.existing[0].arn',
    );
    expect(imgpipe.locals.pipeline_config_parameter_arn).toMatch(
      /:ssm:\$\{local\.region\}:\$\{local\.account_id\}:parameter\/\$\{trimprefix\(var\.pipeline_config_parameter_name, "\/"\)\}"$/,
    );
  });

  it('leaves X-Ray the only grant on "*"', () => {
    for (const name of ['this'] as const) {
      const wildcards = roleStatements(name).filter((s) => (s.resources as string[]).includes('*'));
      expect(
        wildcards.map((s) => [...s.actions].sort()),
        name,
      ).toEqual([['xray:PutTelemetryRecords', 'xray:PutTraceSegments']]);
    }
  });
});

describe('outcome events and image alerts', () => {
  const rule = () => imgpipe.resource.aws_cloudwatch_event_rule!.this!;

  it('puts events on a bus the module creates, or on an existing one by name', () => {
    const bus = imgpipe.resource.aws_cloudwatch_event_bus!.this!;
    expect(bus.count).toBe('var.event_bus_name == null ? 1 : 0');
    expect(bus.name).toBe('var.name');
    expect(bus.kms_key_identifier, 'the AWS owned key (events.tf says why)').toBeUndefined();
    const existing = imgpipe.data.aws_cloudwatch_event_bus!.existing!;
    expect(existing).toMatchObject({
      count: 'var.event_bus_name == null ? 0 : 1',
      name: 'var.event_bus_name',
    });
    expect(imgpipe.locals.event_bus_name).toBe('coalesce(var.event_bus_name, var.name)');
    expect(root.module.imgpipe!.event_bus_name).toBe('var.event_bus_name');
  });

  it('routes this deployment’s Image Quarantined and Image Failed events from imgpipe (this account’s, of its source bucket, but for the objects every release checks and quarantines on purpose) to the image alerts topic', () => {
    expect(imgpipe.locals.event_source).toBe(EVENT_SOURCE);
    expect(imgpipe.locals.image_alert_detail_types).toEqual([DETAIL_TYPES.quarantined, DETAIL_TYPES.failed]);
    const pattern = String(rule().event_pattern).replace(/\s+/g, ' ');
    expect(pattern).toBe(
      'jsonencode({ source = [local.event_source] "detail-type" = local.image_alert_detail_types account = [local.account_id] detail = { bucket = [module.source_bucket.s3_bucket_id] key = [{ "anything-but" = { prefix = local.release_check_prefix } }] } })',
    );
    // Another deployment in the account on a shared bus (event_bus_name = "default") puts the same
    // source and detail-types; every detail names its source bucket, which tells them apart.
    expect(schema.required).toContain('bucket');
    expect(rule().event_bus_name).toBe('local.event_bus_name');
    const target = imgpipe.resource.aws_cloudwatch_event_target!.this!;
    expect(target).toMatchObject({
      rule: 'aws_cloudwatch_event_rule.this.name',
      event_bus_name: 'local.event_bus_name',
      arn: 'aws_sns_topic.image_alerts.arn',
      depends_on: ['aws_sns_topic_policy.image_alerts'],
    });
    // EventBridge documents: no role for SNS targets, or deliveries to encrypted topics can fail.
    expect(target.role_arn).toBeUndefined();
  });

  it('has a topic of its own, KMS-encrypted, that only the rule may publish to, with an optional e-mail', () => {
    const topic = imgpipe.resource.aws_sns_topic!.image_alerts!;
    expect(topic).toMatchObject({
      name: 'local.image_alerts_name',
      kms_master_key_id: 'module.kms.key_arn',
    });
    expect(imgpipe.locals.image_alerts_name).toBe(`${DOLLAR}{var.name}-image-alerts`);
    const policy = imgpipe.resource.aws_sns_topic_policy!.image_alerts!;
    expect(policy.arn).toBe('aws_sns_topic.image_alerts.arn');
    const services = statements(documentOf(imgpipe, policy.policy)).filter((s) =>
      s.principals.some((p: Body) => p.type === 'Service'),
    );
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject({
      actions: ['sns:Publish'],
      resources: ['aws_sns_topic.image_alerts.arn'],
      principals: [{ type: 'Service', identifiers: ['events.amazonaws.com'] }],
      condition: [
        { test: 'ArnEquals', variable: 'aws:SourceArn', values: ['aws_cloudwatch_event_rule.this.arn'] },
      ],
    });
    const subscription = imgpipe.resource.aws_sns_topic_subscription!.image_alerts!;
    expect(subscription).toMatchObject({
      count: 'var.image_alert_email == null ? 0 : 1',
      topic_arn: 'aws_sns_topic.image_alerts.arn',
      protocol: 'email',
      endpoint: 'var.image_alert_email',
    });
    expect(root.module.imgpipe!.image_alert_email).toBe('var.image_alert_email');
  });

  it('lets EventBridge use the key for that topic only, with no aws:SourceArn or aws:SourceAccount', () => {
    const key = statements(imgpipe.data.aws_iam_policy_document!.kms!).filter((s) =>
      s.principals?.some((p: Body) => p.identifiers.includes('events.amazonaws.com')),
    );
    expect(key.map((s) => s.sid)).toEqual(['TheImageAlertsRulePublishesToItsEncryptedTopic']);
    expect([...key[0]!.actions].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    // The SNS guide: aws:SourceArn and aws:SourceAccount are not supported in a key policy for
    // EventBridge-to-encrypted-topic delivery, so such a condition refuses every image alert. The
    // topic policy is what lets only the rule publish.
    const conditions = Object.fromEntries(key[0]!.condition.map((c: Body) => [c.variable, c]));
    expect(conditions).toEqual({
      'kms:EncryptionContext:aws:sns:topicArn': {
        test: 'StringEquals',
        variable: 'kms:EncryptionContext:aws:sns:topicArn',
        values: ['local.image_alerts_topic_arn'],
      },
    });
    // Derived, since the topic is encrypted with the key that names it.
    expect(imgpipe.locals.image_alerts_topic_arn).toMatch(/:sns:.*:\$\{local\.image_alerts_name\}"?$/);
  });
});

describe('S3 removals, X-Ray and the new settings', () => {
  it('sends ObjectRemoved events to the alias as well as ObjectCreated', () => {
    const notification = imgpipe.resource.aws_s3_bucket_notification!.this!;
    for (const target of blocks(notification, 'lambda_function')) {
      expect(target.lambda_function_arn).toBe('aws_lambda_alias.this.arn');
      expect([...target.events].sort()).toEqual(['s3:ObjectCreated:*', 's3:ObjectRemoved:*']);
    }
  });

  it('traces the function, Active by default, and tells Powertools Tracer the same', () => {
    for (const name of ['this'])
      expect(imgpipe.resource.aws_lambda_function![name]!.tracing_config, name).toEqual([
        { mode: 'local.tracing_mode' },
      ]);
    expect(String(imgpipe.locals.environment)).toMatch(
      /^\s*POWERTOOLS_TRACE_ENABLED\s*=\s*tostring\(var\.tracing_enabled\)\s*$/m,
    );
    expect(root.module.imgpipe!.tracing_enabled).toBe('var.tracing_enabled');
  });

  it('sets each new variable from its Terraform variable or resource', () => {
    const environment = String(imgpipe.locals.environment);
    const set = (name: string, value: string) =>
      expect(environment, name).toMatch(
        new RegExp(`^\\s*${name}\\s*=\\s*${value.replace(/[.()[\]]/g, '\\$&')}\\s*$`, 'm'),
      );
    set('IMGPIPE_STATUS_TABLE', 'aws_dynamodb_table.this[0].name');
    set('IMGPIPE_EVENT_BUS', 'local.event_bus_arn');
    set('IMGPIPE_DELETE_OUTPUTS', 'tostring(var.delete_outputs)');
    set('IMGPIPE_CONFIG_PARAMETER', 'var.pipeline_config_parameter_name');
    expect(imgpipe.variable.delete_outputs).toMatchObject({ type: 'bool', default: true, nullable: false });
    for (const name of ['delete_outputs', 'pipeline_config_parameter_name'])
      expect(root.module.imgpipe![name], name).toBe(`var.${name}`);
  });

  it('refuses pipeline_config together with pipeline_config_parameter_name', () => {
    const conditions = (imgpipe.variable.pipeline_config_parameter_name!.validation as Body[]).map((v) =>
      String(v.condition),
    );
    expect(conditions).toContain('var.pipeline_config_parameter_name == null || var.pipeline_config == null');
  });

  it('refuses, in environment_variables, every variable the module sets', () => {
    const managed = [...String(imgpipe.locals.environment).matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*=/gm)].map(
      (m) => m[1]!,
    );
    expect(managed.length).toBeGreaterThanOrEqual(15);
    const condition = String(imgpipe.variable.environment_variables!.validation[0].condition);
    const denied = new Set([...condition.matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((m) => m[1]!));
    for (const name of managed) expect([...denied], name).toContain(name);
    const description = String(imgpipe.variable.environment_variables!.description);
    for (const name of denied) expect(description, name).toContain(name);
  });
});

describe('alarms and dashboard for status and events', () => {
  const alarms = () => imgpipe.resource.aws_cloudwatch_metric_alarm!;
  const entry = (key: string) => imgpipe.locals.alarms[key];

  it('alarms on outcome events that could not be put (EventsFailed), summed over 5 minutes', () => {
    expect(entry('events-failed')).toMatchObject({
      namespace: 'var.metrics_namespace',
      metric: 'EventsFailed',
      dimensions: { service: 'local.service_name' },
      statistic: 'Sum',
      period: 300,
      evaluation: 'loss',
      threshold: 0,
      notify: true,
    });
    expect(alarms().this).toMatchObject({
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
    });
  });

  it('alarms on failed deliveries of the image alerts and on a throttled status table', () => {
    expect(entry('image-alerts-failed')).toMatchObject({
      namespace: 'AWS/Events',
      metric: 'FailedInvocations',
      threshold: 0,
      notify: true,
    });
    const throttles = alarms().status_throttles!;
    const metrics = blocks(throttles, 'metric_query').flatMap((q) => q.metric ?? []);
    expect(metrics.map((m: Body) => m.namespace)).toEqual(['AWS/DynamoDB']);
    // The table's reads and writes, and the index's writes: every upload writes its `processing` key.
    const queried = throttles.dynamic.metric_query[0].for_each;
    expect(Object.values(queried)).toEqual(
      expect.arrayContaining([
        { metric: 'ReadThrottleEvents', dimensions: { TableName: 'aws_dynamodb_table.this[0].name' } },
        { metric: 'WriteThrottleEvents', dimensions: { TableName: 'aws_dynamodb_table.this[0].name' } },
        {
          metric: 'WriteThrottleEvents',
          dimensions: {
            TableName: 'aws_dynamodb_table.this[0].name',
            GlobalSecondaryIndexName: 'local.status_index_name',
          },
        },
      ]),
    );
    // The alarm sums all three.
    const sum = String(blocks(throttles, 'metric_query').find((q) => q.return_data)!.expression);
    expect(sum.split(' + ').sort()).toEqual(Object.keys(queried).sort());
    expect(throttles.alarm_actions).toBe('local.alarm_actions');
    const names = String(imgpipe.output.cloudwatch_metric_alarm_names!.value);
    expect(names).toContain(
      'status_throttles = one(aws_cloudwatch_metric_alarm.status_throttles[*].alarm_name)',
    );
    // None of them judges a release: they are about the bus and the table, not the new version.
    expect(entry('events-failed').release).toBe(false);
    expect(entry('image-alerts-failed').release).toBe(false);
  });

  it('charts events and the status table on the dashboard', () => {
    const widgets = JSON.stringify(imgpipe.locals.dashboard_widgets);
    for (const metric of [
      'EventsSent',
      'EventsFailed',
      'FailedInvocations',
      'ConsumedWriteCapacityUnits',
      'WriteThrottleEvents',
    ])
      expect(widgets, metric).toContain(metric);
  });
});

describe('the dashboard, for every queue and rule an alarm watches', () => {
  it('charts the metric of each alarm on a dead-letter queue or a rule, with the same dimension', () => {
    // The source-deleted rule and its dead-letter queue had three alarms and no chart: an operator
    // looking at the dashboard for events waiting in a queue saw only the function's own.
    const widgets = String(imgpipe.locals.dashboard_widgets);
    const watched = [imgpipe.locals.alarms, imgpipe.locals.source_deleted_alarms].flatMap((alarms) =>
      Object.entries<Body>(alarms).filter(
        ([, alarm]) =>
          ['AWS/SQS', 'AWS/Events'].includes(alarm.namespace) && typeof alarm.dimensions === 'object',
      ),
    );
    expect(watched.map(([key]) => key)).toEqual(
      expect.arrayContaining([
        'dead-letter-queue',
        'source-deleted-dead-letter-queue',
        'source-deleted-failed',
        'source-deleted-dead-letter-failed',
      ]),
    );
    for (const [key, alarm] of watched) {
      const [dimension, value] = Object.entries<string>(alarm.dimensions)[0]!;
      const line = `["${alarm.namespace}", "${alarm.metric}", "${dimension}", ${value},`;
      expect(widgets.includes(line), `${key}: ${line} on the dashboard`).toBe(true);
    }
  });
});

describe('the bootstrap, for status and events', () => {
  // The deploy role's grants, in its three policy documents (IAM's size quota splits them).
  const deploy = () =>
    ['deploy', 'deploy_platform', 'deploy_extensions'].flatMap((name) =>
      statements(bootstrap.data.aws_iam_policy_document![name]!),
    );
  const boundary = () => statements(bootstrap.data.aws_iam_policy_document!.function_boundary!);

  it('lets the function roles do within the permissions boundary all that the module grants them', () => {
    const allowed = new Set(boundary().flatMap((s) => s.actions as string[]));
    for (const name of ['this'] as const)
      for (const action of roleStatements(name).flatMap((s) => s.actions as string[]))
        expect([...allowed], `${name}: ${action}`).toContain(action);
  });

  it('bounds the new grants to the deployments’ tables, parameters under /imgpipe/ and /imgpipe-<env>/transform/, and output buckets', () => {
    // What the boundary allows; its Deny statements (another environment's parameters and bus)
    // narrow that, and terraform/bootstrap/tests/policies.tftest.hcl checks them.
    const resources = (action: string) =>
      boundary()
        .filter((s) => s.effect !== 'Deny' && s.actions.includes(action))
        .flatMap((s) => s.resources as string[]);
    // One boundary per environment (for_each): each.value.name is its deployment, imgpipe-<env>.
    expect(resources('dynamodb:UpdateItem')).toEqual([
      `${DOLLAR}{local.arn}:dynamodb:${DOLLAR}{local.region_account}:table/${DOLLAR}{each.value.name}-*`,
    ]);
    expect(resources('ssm:GetParameter')).toEqual([
      `${DOLLAR}{local.arn}:ssm:${DOLLAR}{local.region_account}:parameter/${DOLLAR}{var.name_prefix}/*`,
      // The transformation function's signing keys, /<deployment>/transform/signing-keys (modules/transform).
      `${DOLLAR}{local.arn}:ssm:${DOLLAR}{local.region_account}:parameter/${DOLLAR}{each.value.name}/transform/*`,
    ]);
    expect(resources('s3:DeleteObject')).toEqual([
      // The release hook resets the check file's quarantine reason record, and only that.
      `${DOLLAR}{local.arn}:s3:::${DOLLAR}{each.value.name}-quarantine-${DOLLAR}{local.account_id}/reasons/imgpipe-release-check/*`,
      `${DOLLAR}{local.arn}:s3:::${DOLLAR}{each.value.name}-output-${DOLLAR}{local.account_id}/*`,
      // DELETE /images (modules/api, test/terraform/api.test.ts).
      `${DOLLAR}{local.arn}:s3:::${DOLLAR}{each.value.name}-source-${DOLLAR}{local.account_id}/*`,
      // The workflow module's database update replaces the ClamAV database, and nothing else.
      `${DOLLAR}{local.arn}:s3:::${DOLLAR}{each.value.name}-workflow-${DOLLAR}{local.account_id}/clamav/*`,
    ]);
    // The root keeps parameter names inside that boundary.
    const validation = String(root.variable.pipeline_config_parameter_name!.validation[0].condition);
    expect(validation).toContain(
      'startswith(coalesce(var.pipeline_config_parameter_name, "x"), "/imgpipe/")',
    );
  });

  it('lets the deploy role manage the table, the bus and the deployment’s rules', () => {
    const sid = (name: string) => deploy().find((s) => s.sid === name)!;
    expect(sid('StatusTables').actions).toEqual(
      expect.arrayContaining([
        'dynamodb:CreateTable',
        'dynamodb:UpdateContinuousBackups',
        'dynamodb:DeleteTable',
      ]),
    );
    expect(String(sid('StatusTables').resources)).toContain(`:table/${DOLLAR}{name}-*`);
    expect(sid('StatusTableKeyGrants').condition).toEqual(
      expect.arrayContaining([{ test: 'Bool', variable: 'kms:GrantIsForAWSResource', values: ['true'] }]),
    );
    expect(sid('EventBuses').actions).toContain('events:CreateEventBus');
    expect(sid('EventRules').actions).toEqual(
      expect.arrayContaining(['events:PutRule', 'events:PutTargets', 'events:RemoveTargets']),
    );
    expect(String(sid('EventRules').resources)).toMatch(/rule\/\$\{name\}-\*.*rule\/\*\/\$\{name\}-\*/);
    // The deploy role does not put events: only the functions do.
    expect(JSON.stringify(deploy())).not.toContain('events:PutEvents');
  });
});
