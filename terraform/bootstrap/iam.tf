locals {
  region_account = "${var.region}:${local.account_id}"
  arn            = "arn:${local.partition}"

  # Each environment's deploy role trusts exactly one GitHub OIDC subject, that environment's
  # (`repo:<owner>/<repo>:environment:<env>`): a job of the dev environment (no reviewers) cannot
  # assume the prod role, even with all three environments in one account. The plan role of an
  # environment trusts its `<env>-plan` environment (no reviewers, pull requests allowed): it may
  # read, never write. The bench role trusts `<env>-bench` (no reviewers, main only): its sweep
  # runs npm packages' code with the job's OIDC token, which in `<env>` itself could assume that
  # environment's deploy role. Exact matches only: no wildcard subject.
  deploy_subjects = { for environment in var.environments : environment => "repo:${var.github_repository}:environment:${environment}" }
  plan_subjects   = { for environment in var.environments : environment => "repo:${var.github_repository}:environment:${environment}-plan" }
  bench_subjects  = [for environment in var.bench_environments : "repo:${var.github_repository}:environment:${environment}-bench"]
  trust_subjects = merge(
    { for environment, subject in local.deploy_subjects : "deploy-${environment}" => [subject] },
    { for environment, subject in local.plan_subjects : "plan-${environment}" => [subject] },
    length(local.bench_subjects) > 0 ? { bench = local.bench_subjects } : {},
  )

  # Each environment's deployment (<prefix>-<environment>), and what its deploy role may touch:
  # functions and log groups <deployment> (S3 events) and <deployment>-* (the release hooks, the
  # workflow module's tasks, the HTTP API's <deployment>-api), versions and aliases included; its
  # buckets, objects and roles. Patterns, not every name: a managed policy holds 6,144 characters
  # (bootstrap/tests/policies.tftest.hcl).
  scoped = {
    for environment in var.environments : environment => {
      name = "${var.name_prefix}-${environment}"
      function_arns = [
        "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}",
        "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}:*",
        "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}-*",
      ]
      log_group_arns = [
        "${local.arn}:logs:${local.region_account}:log-group:/aws/lambda/${var.name_prefix}-${environment}",
        "${local.arn}:logs:${local.region_account}:log-group:/aws/lambda/${var.name_prefix}-${environment}:*",
        "${local.arn}:logs:${local.region_account}:log-group:/aws/lambda/${var.name_prefix}-${environment}-*",
        # The workflow module's state machines' execution logs, the HTTP API's access logs.
        "${local.arn}:logs:${local.region_account}:log-group:/aws/vendedlogs/states/${var.name_prefix}-${environment}-*",
        "${local.arn}:logs:${local.region_account}:log-group:/aws/apigateway/${var.name_prefix}-${environment}-*",
      ]
      bucket_arns        = ["${local.arn}:s3:::${var.name_prefix}-${environment}-*"]
      object_arns        = ["${local.arn}:s3:::${var.name_prefix}-${environment}-*/*"]
      function_role_arns = ["${local.arn}:iam::${local.account_id}:role/${var.name_prefix}-${environment}-*"]
    }
  }
  # Each environment's permissions boundary (function_boundary): the function roles of one
  # environment's deployment can reach that deployment's resources alone. With one boundary for
  # all, the dev deploy role (no reviewers) could make a dev function whose role moved prod's live
  # alias, read its signing keys or deleted its sources, and run it.
  boundary_arns = { for environment in var.environments : environment => "${local.arn}:iam::${local.account_id}:policy/${var.name_prefix}-${environment}-function-boundary" }

  # The repositories each environment's deploy role copies builds from: release.yml pushes them to
  # the dev repository, in this account when it hosts dev, else in the one image_source_repository_arns names.
  image_source_repository_arns = {
    for environment in var.environments : environment => distinct(concat(
      var.image_source_repository_arns,
      environment != "dev" && contains(var.environments, "dev") ? ["${local.arn}:ecr:${local.region_account}:repository/${var.name_prefix}-dev"] : [],
    ))
  }
}

################################################################################
# Who may assume the roles: this repository's workflows, through GitHub's OIDC provider
################################################################################

# One trust document per role, each naming its subjects: deploy-<environment> and
# plan-<environment> one each, bench those of bench_environments.
data "aws_iam_policy_document" "trust" {
  for_each = local.trust_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

################################################################################
# Deploy role: what release.yml and deploy.yml do (push images, terraform apply, watch alarms)
################################################################################

resource "aws_iam_role" "deploy" {
  for_each = local.scoped

  name               = "${var.name_prefix}-github-deploy-${each.key}"
  description        = "Assumed by ${var.github_repository}'s release and deploy workflows in the ${each.key} environment; may change ${each.value.name} alone"
  assume_role_policy = data.aws_iam_policy_document.trust["deploy-${each.key}"].json
  # deploy.yml's deploy job holds one session for its whole run, up to 240 minutes (the slowest
  # CodeDeploy release of the function, its hooks, then of the task functions, and the apply), and
  # for the rollback a timed-out run still runs.
  max_session_duration = 16200
}

data "aws_iam_policy_document" "deploy" {
  for_each = local.scoped

  statement {
    sid       = "TerraformStateList"
    actions   = ["s3:ListBucket"]
    resources = [module.state_bucket.s3_bucket_arn]
  }

  statement {
    sid = "TerraformStateAndLock"
    # The lock is an object next to the state (use_lockfile), deleted on unlock.
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${module.state_bucket.s3_bucket_arn}/${var.name_prefix}/${each.key}/*"]
  }

  statement {
    sid = "Buckets"
    actions = [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:DeleteBucketPolicy",
      "s3:GetAccelerateConfiguration",
      "s3:GetBucketAcl",
      "s3:GetBucketCORS",
      "s3:GetBucketLocation",
      "s3:GetBucketLogging",
      "s3:GetBucketNotification",
      "s3:GetBucketObjectLockConfiguration",
      "s3:GetBucketOwnershipControls",
      "s3:GetBucketPolicy",
      "s3:GetBucketPublicAccessBlock",
      "s3:GetBucketRequestPayment",
      "s3:GetBucketTagging",
      "s3:GetBucketVersioning",
      "s3:GetBucketWebsite",
      "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration",
      "s3:GetReplicationConfiguration",
      "s3:ListBucket",
      "s3:ListBucketVersions",
      "s3:PutBucketCORS",
      "s3:PutBucketNotification",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketPolicy",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketTagging",
      "s3:PutBucketVersioning",
      "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration",
    ]
    resources = each.value.bucket_arns
  }

  statement {
    sid = "Objects"
    # The release check objects are uploaded once per environment and their manifests read;
    # force_destroy empties buckets.
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject"]
    resources = each.value.object_arns
  }

  statement {
    sid = "Function"
    actions = [
      "lambda:AddPermission",
      "lambda:CreateAlias",
      "lambda:CreateFunction",
      "lambda:DeleteAlias",
      "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency",
      "lambda:DeleteFunctionEventInvokeConfig",
      "lambda:DeleteProvisionedConcurrencyConfig",
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionCodeSigningConfig",
      "lambda:GetFunctionConcurrency",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionEventInvokeConfig",
      "lambda:GetFunctionRecursionConfig",
      "lambda:GetPolicy",
      "lambda:GetProvisionedConcurrencyConfig",
      "lambda:GetRuntimeManagementConfig",
      # The release's synthetic traffic on the new version (deploy.yml).
      "lambda:InvokeFunction",
      "lambda:ListProvisionedConcurrencyConfigs",
      "lambda:ListTags",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:PutFunctionConcurrency",
      "lambda:PutFunctionEventInvokeConfig",
      "lambda:PutProvisionedConcurrencyConfig",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "lambda:UpdateFunctionEventInvokeConfig",
    ]
    resources = each.value.function_arns
  }

  statement {
    sid = "FunctionRoleWithBoundary"
    # Roles the deploy role creates or edits must carry the boundary: it cannot mint a role with
    # more rights than the function needs.
    actions   = ["iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"]
    resources = each.value.function_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arns[each.key]]
    }
  }

  statement {
    sid = "FunctionRole"
    actions = [
      "iam:DeleteRole",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = each.value.function_role_arns
  }

  statement {
    sid       = "PassFunctionRoleToLambda"
    actions   = ["iam:PassRole"]
    resources = each.value.function_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com"]
    }
  }

  statement {
    sid       = "LogGroups"
    actions   = ["logs:AssociateKmsKey", "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:DeleteRetentionPolicy", "logs:DisassociateKmsKey", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:PutRetentionPolicy", "logs:TagLogGroup", "logs:TagResource", "logs:UntagLogGroup", "logs:UntagResource"]
    resources = each.value.log_group_arns
  }

  statement {
    sid       = "DescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["${local.arn}:logs:${local.region_account}:log-group:*"]
  }
}

# Keys, queues, topics, alarms, dashboards, budgets, status tables, event buses and rules.
data "aws_iam_policy_document" "deploy_platform" {
  for_each = local.scoped

  statement {
    sid = "CreateTaggedKeys"
    # New keys have no ARN to name yet: creation is allowed only with the project tag and this
    # environment's (the deployment root's default_tags), and the key statements below reach only
    # keys that carry both. Every environment's keys carry the project tag: with it alone, in one
    # shared account the dev role (no reviewers) could schedule the deletion of prod's keys, or
    # retag them as dev's. So tagging a key that already names another environment is refused.
    actions   = ["kms:CreateKey", "kms:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.name_prefix]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "ListKeyAliases"
    actions   = ["kms:ListAliases"]
    resources = ["*"]
  }

  statement {
    sid = "ProjectKeys"
    actions = [
      "kms:CreateAlias",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:EnableKeyRotation",
      "kms:GenerateDataKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["${local.arn}:kms:${local.region_account}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.name_prefix]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "ProjectKeyAliases"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = flatten([for name in [each.value.name] : ["${local.arn}:kms:${local.region_account}:alias/${name}", "${local.arn}:kms:${local.region_account}:alias/${name}-api"]])
  }

  statement {
    sid       = "DeadLetterQueues"
    actions   = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"]
    resources = [for name in [each.value.name] : "${local.arn}:sqs:${local.region_account}:${name}-*"]
  }

  statement {
    sid = "AlarmTopics"
    actions = [
      "sns:CreateTopic",
      "sns:DeleteTopic",
      "sns:GetSubscriptionAttributes",
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:ListTagsForResource",
      "sns:SetSubscriptionAttributes",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:TagResource",
      "sns:Unsubscribe",
      "sns:UntagResource",
    ]
    # Topics, and their subscriptions (<topic arn>:<id>).
    resources = [for name in [each.value.name] : "${local.arn}:sns:${local.region_account}:${name}-*"]
  }

  # Releases (modules/imgpipe/codedeploy.tf, deploy.yml): the application, its deployment group and
  # its deployments, and the predefined configurations they name.
  statement {
    sid = "Releases"
    actions = [
      "codedeploy:CreateApplication", "codedeploy:CreateDeployment", "codedeploy:CreateDeploymentGroup", "codedeploy:DeleteApplication",
      "codedeploy:DeleteDeploymentGroup", "codedeploy:GetApplication", "codedeploy:GetApplicationRevision", "codedeploy:GetDeployment",
      "codedeploy:GetDeploymentGroup", "codedeploy:ListTagsForResource", "codedeploy:RegisterApplicationRevision", "codedeploy:StopDeployment",
      "codedeploy:TagResource", "codedeploy:UntagResource", "codedeploy:UpdateDeploymentGroup",
    ]
    resources = [
      "${local.arn}:codedeploy:${local.region_account}:application:${each.value.name}",
      "${local.arn}:codedeploy:${local.region_account}:deploymentgroup:${each.value.name}/*",
    ]
  }

  statement {
    sid       = "ReleaseConfigurations"
    actions   = ["codedeploy:GetDeploymentConfig"]
    resources = ["${local.arn}:codedeploy:${local.region_account}:deploymentconfig:CodeDeployDefault.*"]
  }

  statement {
    sid       = "PassTheReleaseRoleToCodeDeploy"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account_id}:role/${each.value.name}-codedeploy"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["codedeploy.amazonaws.com"]
    }
  }

  statement {
    sid       = "Alarms"
    actions   = ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"]
    resources = [for name in [each.value.name] : "${local.arn}:cloudwatch:${local.region_account}:alarm:${name}-*"]
  }

  statement {
    sid       = "Dashboards"
    actions   = ["cloudwatch:DeleteDashboards", "cloudwatch:GetDashboard", "cloudwatch:PutDashboard"]
    resources = flatten([for name in [each.value.name] : ["${local.arn}:cloudwatch::${local.account_id}:dashboard/${name}", "${local.arn}:cloudwatch::${local.account_id}:dashboard/${name}-api"]])
  }

  statement {
    sid       = "Budgets"
    actions   = ["budgets:ListTagsForResource", "budgets:ModifyBudget", "budgets:TagResource", "budgets:UntagResource", "budgets:ViewBudget"]
    resources = [for name in [each.value.name] : "${local.arn}:budgets::${local.account_id}:budget/${name}-*"]
  }

  statement {
    sid = "StatusTables"
    # The module's status table, <deployment>-status.
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DeleteTable",
      "dynamodb:DescribeContinuousBackups",
      "dynamodb:DescribeTable",
      "dynamodb:DescribeTimeToLive",
      "dynamodb:ListTagsOfResource",
      "dynamodb:TagResource",
      "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTable",
    ]
    resources = [for name in [each.value.name] : "${local.arn}:dynamodb:${local.region_account}:table/${name}-*"]
  }

  statement {
    sid = "StatusTableKeyGrants"
    # A table encrypted with a customer managed key is created with a grant on that key for
    # DynamoDB, in the name of whoever creates the table: grants for AWS resources only, on the
    # project's keys only.
    actions   = ["kms:CreateGrant"]
    resources = ["${local.arn}:kms:${local.region_account}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.name_prefix]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid       = "EventBuses"
    actions   = ["events:CreateEventBus", "events:DeleteEventBus", "events:DescribeEventBus", "events:ListTagsForResource", "events:TagResource", "events:UntagResource", "events:UpdateEventBus"]
    resources = [for name in [each.value.name] : "${local.arn}:events:${local.region_account}:event-bus/${name}"]
  }

  statement {
    sid = "DescribeExistingEventBuses"
    # A deployment may put its events on a bus it does not own (event_bus_name, e.g. default): the
    # plan reads it, and changes nothing on it but its own rules.
    actions   = ["events:DescribeEventBus"]
    resources = ["${local.arn}:events:${local.region_account}:event-bus/*"]
  }

  statement {
    sid = "EventRules"
    # <deployment>-* rules, on the deployment's bus or any other (rule/<name> on the default bus,
    # rule/<bus>/<name> elsewhere).
    actions = [
      "events:DeleteRule",
      "events:DescribeRule",
      "events:DisableRule",
      "events:EnableRule",
      "events:ListTagsForResource",
      "events:ListTargetsByRule",
      "events:PutRule",
      "events:PutTargets",
      "events:RemoveTargets",
      "events:TagResource",
      "events:UntagResource",
    ]
    resources = flatten([
      for name in [each.value.name] : ["${local.arn}:events:${local.region_account}:rule/${name}-*", "${local.arn}:events:${local.region_account}:rule/*/${name}-*"]
    ])
  }
}

# The HTTP API (modules/api), image repositories, the workflow (modules/workflow), registry login.
data "aws_iam_policy_document" "deploy_extensions" {
  for_each = local.scoped

  # The HTTP API module (modules/api). API Gateway and Cognito name what they create by generated
  # ids, so no name pattern can tell one environment's from another's: the APIs, their stages and
  # custom domain names, and the user pools are created only with this environment's tag (the
  # deployment root's default_tags), and NotOtherEnvironmentsResources below keeps the role off
  # whatever carries another environment's. Routes, integrations, authorizers and deployments of an
  # HTTP API cannot be tagged, and unlike REST APIs' they inherit no tag from their API: any deploy
  # role of the account may still change those of every environment's API (terraform/README.md).
  statement {
    sid       = "HttpApis"
    actions   = ["apigateway:DELETE", "apigateway:GET", "apigateway:PATCH", "apigateway:POST", "apigateway:PUT", "apigateway:TagResource", "apigateway:UntagResource"]
    resources = ["${local.arn}:apigateway:${var.region}::/apis/*", "${local.arn}:apigateway:${var.region}::/domainnames/*", "${local.arn}:apigateway:${var.region}::/tags/*"]
  }

  statement {
    sid       = "ListHttpApis"
    actions   = ["apigateway:GET"]
    resources = ["${local.arn}:apigateway:${var.region}::/apis", "${local.arn}:apigateway:${var.region}::/domainnames"]
  }

  statement {
    sid       = "CreateTaggedHttpApis"
    actions   = ["apigateway:POST"]
    resources = ["${local.arn}:apigateway:${var.region}::/apis", "${local.arn}:apigateway:${var.region}::/domainnames"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "CreateTaggedUserPools"
    actions   = ["cognito-idp:CreateUserPool"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "DescribeUserPoolDomains"
    # No resource-level permissions.
    actions   = ["cognito-idp:DescribeUserPoolDomain"]
    resources = ["*"]
  }

  statement {
    sid = "UserPools"
    # Clients, groups and domains are authorized on their user pool, and so carry its tag.
    actions = [
      "cognito-idp:CreateGroup",
      "cognito-idp:CreateUserPoolClient",
      "cognito-idp:CreateUserPoolDomain",
      "cognito-idp:DeleteGroup",
      "cognito-idp:DeleteUserPool",
      "cognito-idp:DeleteUserPoolClient",
      "cognito-idp:DeleteUserPoolDomain",
      "cognito-idp:DescribeUserPool",
      "cognito-idp:DescribeUserPoolClient",
      "cognito-idp:GetGroup",
      "cognito-idp:GetUserPoolMfaConfig",
      "cognito-idp:ListTagsForResource",
      "cognito-idp:SetUserPoolMfaConfig",
      "cognito-idp:TagResource",
      "cognito-idp:UntagResource",
      "cognito-idp:UpdateGroup",
      "cognito-idp:UpdateUserPool",
      "cognito-idp:UpdateUserPoolClient",
    ]
    resources = ["${local.arn}:cognito-idp:${local.region_account}:userpool/*"]
  }

  # Not what carries another environment's tag: its HTTP APIs, their stages and domain names, its
  # user pools (their clients' secrets too), its CloudFront distributions and their monitoring
  # subscriptions (PageDistributions here, CloudFrontMonitoring in deploy_transform). A deny, so the
  # untaggable (routes, integrations, origin access controls, cache and origin request policies)
  # stay reachable, and a tag cannot be moved off a resource that names another environment.
  statement {
    sid       = "NotOtherEnvironmentsResources"
    effect    = "Deny"
    actions   = ["apigateway:*", "cloudfront:*", "cognito-idp:*"]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Environment"
      values   = ["false"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid = "PageDistributions"
    # The web page's CloudFront distribution and its origin access control (global, by id): another
    # environment's distribution is kept off by its tag (NotOtherEnvironmentsResources); origin
    # access controls take no tags.
    actions = [
      "cloudfront:CreateDistribution",
      "cloudfront:CreateOriginAccessControl",
      "cloudfront:DeleteDistribution",
      "cloudfront:DeleteOriginAccessControl",
      "cloudfront:GetDistribution",
      "cloudfront:GetDistributionConfig",
      "cloudfront:GetOriginAccessControl",
      "cloudfront:ListTagsForResource",
      "cloudfront:TagResource",
      "cloudfront:UntagResource",
      "cloudfront:UpdateDistribution",
      "cloudfront:UpdateOriginAccessControl",
    ]
    resources = [
      "${local.arn}:cloudfront::${local.account_id}:distribution/*",
      "${local.arn}:cloudfront::${local.account_id}:origin-access-control/*",
    ]
  }

  statement {
    sid = "ImageRepositories"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchDeleteImage",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:CreateRepository",
      "ecr:DeleteLifecyclePolicy",
      "ecr:DeleteRepository",
      "ecr:DeleteRepositoryPolicy",
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:GetLifecyclePolicy",
      "ecr:GetRepositoryPolicy",
      "ecr:InitiateLayerUpload",
      "ecr:ListImages",
      "ecr:ListTagsForResource",
      "ecr:PutImage",
      "ecr:PutImageScanningConfiguration",
      "ecr:PutImageTagMutability",
      "ecr:PutLifecyclePolicy",
      "ecr:SetRepositoryPolicy",
      "ecr:TagResource",
      "ecr:UntagResource",
      "ecr:UploadLayerPart",
    ]
    # The function's repository and the workflow module's scanner repository.
    resources = flatten([for name in [each.value.name] : ["${local.arn}:ecr:${local.region_account}:repository/${name}", "${local.arn}:ecr:${local.region_account}:repository/${name}-scanner"]])
  }

  # The workflow module: its state machines, the database update's schedule, and the roles it
  # passes to Step Functions, EventBridge and Scheduler.
  statement {
    sid = "StateMachines"
    actions = [
      "states:CreateStateMachine",
      "states:DeleteStateMachine",
      "states:DescribeStateMachine",
      "states:ListStateMachineVersions",
      "states:ListTagsForResource",
      "states:TagResource",
      "states:UntagResource",
      "states:UpdateStateMachine",
    ]
    resources = [for name in [each.value.name] : "${local.arn}:states:${local.region_account}:stateMachine:${name}-*"]
  }

  statement {
    sid = "StateMachineLogDelivery"
    # Creating a state machine with logging sets up a log delivery; these actions take no resource.
    actions   = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery"]
    resources = ["*"]
  }

  statement {
    sid       = "Schedules"
    actions   = ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule", "scheduler:ListTagsForResource", "scheduler:TagResource", "scheduler:UntagResource", "scheduler:UpdateSchedule"]
    resources = [for name in [each.value.name] : "${local.arn}:scheduler:${local.region_account}:schedule/default/${name}-*"]
  }

  statement {
    sid       = "PassWorkflowRoles"
    actions   = ["iam:PassRole"]
    resources = each.value.function_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["events.amazonaws.com", "scheduler.amazonaws.com", "states.amazonaws.com"]
    }
  }

  statement {
    sid = "RegistryLogin"
    # GetAuthorizationToken has no resource-level permissions.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Where release.yml pushes every build: the dev repository, and the scanner's beside it
  # (<repository>-scanner). deploy.yml copies them by digest into this environment's repositories,
  # reading them with this role: the dev repositories of this account when dev lives here too (one
  # shared account), image_source_repository_arns (and their -scanner) when it is another's.
  dynamic "statement" {
    for_each = length(local.image_source_repository_arns[each.key]) > 0 ? [local.image_source_repository_arns[each.key]] : []

    content {
      sid       = "PullBuildsToCopy"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]
      resources = flatten([for arn in statement.value : [arn, "${arn}-scanner"]])
    }
  }
}

# The security options of modules/imgpipe (off by default): the VPC (vpc.tf) and the CloudTrail trail
# (trail.tf). EC2 network resources have no names to scope by: they are created only with the
# environment's tag (the deployment root's default_tags) and changed or deleted only when they
# carry it. The S3 prefix list a gateway rule names is AWS's and untagged.
data "aws_iam_policy_document" "deploy_network" {
  for_each = local.scoped

  statement {
    sid       = "DescribeNetworkAndTrails"
    actions   = ["cloudtrail:DescribeTrails", "ec2:DescribeAvailabilityZones", "ec2:DescribeNetworkInterfaces", "ec2:DescribePrefixLists", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcAttribute", "ec2:DescribeVpcEndpoints", "ec2:DescribeVpcs"]
    resources = ["*"]
  }

  statement {
    sid       = "CreateTaggedNetwork"
    actions   = ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup", "ec2:CreateSubnet", "ec2:CreateVpc", "ec2:CreateVpcEndpoint"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress", "CreateRouteTable", "CreateSecurityGroup", "CreateSubnet", "CreateVpc", "CreateVpcEndpoint"]
    }
  }

  statement {
    sid       = "EnvironmentNetwork"
    actions   = ["ec2:AssociateRouteTable", "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags", "ec2:DeleteRouteTable", "ec2:DeleteSecurityGroup", "ec2:DeleteSubnet", "ec2:DeleteTags", "ec2:DeleteVpc", "ec2:DeleteVpcEndpoints", "ec2:DisassociateRouteTable", "ec2:ModifySecurityGroupRules", "ec2:ModifySubnetAttribute", "ec2:ModifyVpcAttribute", "ec2:ModifyVpcEndpoint", "ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }

  statement {
    sid       = "AwsPrefixLists"
    actions   = ["ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress"]
    resources = ["${local.arn}:ec2:${var.region}:aws:prefix-list/*"]
  }

  statement {
    sid       = "Trail"
    actions   = ["cloudtrail:AddTags", "cloudtrail:CreateTrail", "cloudtrail:DeleteTrail", "cloudtrail:GetEventSelectors", "cloudtrail:GetInsightSelectors", "cloudtrail:GetTrail", "cloudtrail:GetTrailStatus", "cloudtrail:ListTags", "cloudtrail:PutEventSelectors", "cloudtrail:RemoveTags", "cloudtrail:StartLogging", "cloudtrail:StopLogging", "cloudtrail:UpdateTrail"]
    resources = ["${local.arn}:cloudtrail:${local.region_account}:trail/${each.value.name}-*"]
  }
}

# The on-demand transformations of modules/transform (off by default, transform.enabled): the
# function URL of <deployment>-transform, the distribution's CloudFront function, cache and origin
# request policies and monitoring subscription, the signing keys' parameter /<deployment>/transform/*,
# and, because CloudFront's metrics are in us-east-1, the alarms, their topic and its key there.
data "aws_iam_policy_document" "deploy_transform" {
  for_each = local.scoped

  statement {
    sid       = "FunctionUrls"
    actions   = ["lambda:CreateFunctionUrlConfig", "lambda:DeleteFunctionUrlConfig", "lambda:GetFunctionUrlConfig", "lambda:UpdateFunctionUrlConfig"]
    resources = each.value.function_arns
  }

  statement {
    sid       = "CloudFrontFunctions"
    actions   = ["cloudfront:CreateFunction", "cloudfront:DeleteFunction", "cloudfront:DescribeFunction", "cloudfront:GetFunction", "cloudfront:PublishFunction", "cloudfront:UpdateFunction"]
    resources = ["${local.arn}:cloudfront::${local.account_id}:function/${each.value.name}-*"]
  }

  statement {
    sid = "CloudFrontPolicies"
    # Cache and origin request policies have IDs, not names, in their ARNs, and take no tags: any
    # deploy role of the account may change every environment's.
    actions = [
      "cloudfront:CreateCachePolicy", "cloudfront:DeleteCachePolicy", "cloudfront:GetCachePolicy", "cloudfront:UpdateCachePolicy",
      "cloudfront:CreateOriginRequestPolicy", "cloudfront:DeleteOriginRequestPolicy", "cloudfront:GetOriginRequestPolicy", "cloudfront:UpdateOriginRequestPolicy",
    ]
    resources = ["${local.arn}:cloudfront::${local.account_id}:cache-policy/*", "${local.arn}:cloudfront::${local.account_id}:origin-request-policy/*"]
  }

  # Subscriptions are authorized on their distribution: another environment's is kept off by its
  # tag (NotOtherEnvironmentsResources, deploy_extensions).
  statement {
    sid       = "CloudFrontMonitoring"
    actions   = ["cloudfront:CreateMonitoringSubscription", "cloudfront:DeleteMonitoringSubscription", "cloudfront:GetMonitoringSubscription"]
    resources = ["${local.arn}:cloudfront::${local.account_id}:distribution/*"]
  }

  statement {
    sid       = "SigningKeysParameter"
    actions   = ["ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource", "ssm:PutParameter", "ssm:RemoveTagsFromResource"]
    resources = ["${local.arn}:ssm:${local.region_account}:parameter/${each.value.name}/transform/*"]
  }

  statement {
    sid       = "DescribeParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  statement {
    sid = "CloudFrontAlarmsInUsEast1"
    actions = [
      "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource",
      "sns:CreateTopic", "sns:DeleteTopic", "sns:GetSubscriptionAttributes", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource",
      "sns:SetSubscriptionAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource", "sns:Unsubscribe", "sns:UntagResource",
    ]
    resources = [
      "${local.arn}:cloudwatch:us-east-1:${local.account_id}:alarm:${each.value.name}-transform-*",
      "${local.arn}:sns:us-east-1:${local.account_id}:${each.value.name}-transform-*",
    ]
  }

  # The topic's key in us-east-1, created with the project tag as the deployment's key is
  # (CreateTaggedKeys, deploy_platform), and managed only while it carries it.
  statement {
    sid = "ProjectKeysInUsEast1"
    actions = [
      "kms:Decrypt", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GenerateDataKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
      "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription",
    ]
    resources = ["${local.arn}:kms:us-east-1:${local.account_id}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.name_prefix]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = [each.key]
    }
  }
}

# Managed policies, five: IAM holds a role's inline policies to 10,240 characters in all and a
# managed policy to 6,144, and three deployments' grants take about 16,000
# (tests/policies.tftest.hcl renders them and checks each).
resource "aws_iam_policy" "deploy" {
  for_each = local.scoped

  name        = "${var.name_prefix}-github-deploy-${each.key}"
  description = "What the ${each.key} deploy role may do: state, buckets, functions, roles, logs of ${each.value.name}."
  policy      = data.aws_iam_policy_document.deploy[each.key].json
}

resource "aws_iam_policy" "deploy_platform" {
  for_each = local.scoped

  name        = "${var.name_prefix}-github-deploy-${each.key}-platform"
  description = "What the ${each.key} deploy role may do: keys, queues, topics, alarms, budgets, status tables, events, releases of ${each.value.name}."
  policy      = data.aws_iam_policy_document.deploy_platform[each.key].json
}

resource "aws_iam_policy" "deploy_extensions" {
  for_each = local.scoped

  name        = "${var.name_prefix}-github-deploy-${each.key}-extensions"
  description = "What the ${each.key} deploy role may do: the HTTP API, image repositories, the workflow of ${each.value.name}."
  policy      = data.aws_iam_policy_document.deploy_extensions[each.key].json
}

resource "aws_iam_policy" "deploy_network" {
  for_each = local.scoped

  name        = "${var.name_prefix}-github-deploy-${each.key}-network"
  description = "What the ${each.key} deploy role may do: the optional VPC and CloudTrail trail of ${each.value.name}."
  policy      = data.aws_iam_policy_document.deploy_network[each.key].json
}

resource "aws_iam_policy" "deploy_transform" {
  for_each = local.scoped

  name        = "${var.name_prefix}-github-deploy-${each.key}-transform"
  description = "What the ${each.key} deploy role may do: the optional on-demand transformations of ${each.value.name} (function URL, CloudFront, signing keys' parameter, alarms in us-east-1)."
  policy      = data.aws_iam_policy_document.deploy_transform[each.key].json
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = merge([
    for environment in var.environments : {
      "${environment}/core"       = { role = environment, policy = aws_iam_policy.deploy[environment].arn }
      "${environment}/platform"   = { role = environment, policy = aws_iam_policy.deploy_platform[environment].arn }
      "${environment}/extensions" = { role = environment, policy = aws_iam_policy.deploy_extensions[environment].arn }
      "${environment}/network"    = { role = environment, policy = aws_iam_policy.deploy_network[environment].arn }
      "${environment}/transform"  = { role = environment, policy = aws_iam_policy.deploy_transform[environment].arn }
    }
  ]...)

  role       = aws_iam_role.deploy[each.value.role].name
  policy_arn = each.value.policy
}

################################################################################
# Plan roles: terraform plan on pull requests and before each apply, read-only
################################################################################

# The `<env>-plan` GitHub environment's jobs (ci.yml on pull requests, deploy.yml's plan job) run
# `terraform plan -lock=false` with it: AWS's ReadOnlyAccess (Terraform refreshes every resource
# type the root manages) and nothing that writes. Pull requests from forks get no OIDC token.
resource "aws_iam_role" "plan" {
  for_each = local.scoped

  name                 = "${var.name_prefix}-github-plan-${each.key}"
  description          = "Assumed by ${var.github_repository}'s plan jobs in the ${each.key}-plan environment: read-only"
  assume_role_policy   = data.aws_iam_policy_document.trust["plan-${each.key}"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "plan" {
  for_each = local.scoped

  role       = aws_iam_role.plan[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

# ReadOnlyAccess reads SecureStrings, and the account's aws/ssm key lets anyone in the account
# decrypt through SSM: without this, a pull request could print the transformation function's
# signing keys (/<deployment>/transform/*, modules/transform, which Terraform no longer manages so
# that a plan never reads them). GetParametersByPath and GetParameterHistory return values too; no
# plan uses the former, so it is denied on every path (a path above the keys would return them).
data "aws_iam_policy_document" "plan_secrets" {
  for_each = local.scoped

  statement {
    sid       = "NotTheSigningKeys"
    effect    = "Deny"
    actions   = ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"]
    resources = ["${local.arn}:ssm:${local.region_account}:parameter/${each.value.name}/transform/*"]
  }

  statement {
    sid       = "NoParametersByPath"
    effect    = "Deny"
    actions   = ["ssm:GetParametersByPath"]
    resources = ["*"]
  }

  statement {
    sid       = "NotTheSigningKeysThroughKms"
    effect    = "Deny"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["${local.arn}:ssm:${local.region_account}:parameter/${each.value.name}/transform/*"]
    }
  }
}

resource "aws_iam_role_policy" "plan_secrets" {
  for_each = local.scoped

  name   = "not-the-signing-keys"
  role   = aws_iam_role.plan[each.key].name
  policy = data.aws_iam_policy_document.plan_secrets[each.key].json
}

# ReadOnlyAccess also reads data, in every account it is used in: items of DynamoDB tables (the
# status table holds every upload's key, owner and error) and CloudWatch Logs events (keys, owners,
# errors). Any branch of the repository can run a job in an <environment>-plan environment (it has
# no reviewers, and pull requests need it), so such a job could read them all. No plan reads an
# item or a log event: a refresh describes tables and log groups (Describe*, List*), which stay
# allowed. The buckets' objects are under the deployments' KMS keys, which ReadOnlyAccess cannot use.
data "aws_iam_policy_document" "plan_data" {
  statement {
    sid    = "NoItemsOrLogEvents"
    effect = "Deny"
    actions = [
      "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:PartiQLSelect", "dynamodb:Query", "dynamodb:Scan",
      "logs:FilterLogEvents", "logs:GetLogEvents", "logs:GetLogRecord", "logs:GetQueryResults", "logs:StartLiveTail", "logs:StartQuery", "logs:Unmask",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "plan_data" {
  for_each = local.scoped

  name   = "no-items-or-log-events"
  role   = aws_iam_role.plan[each.key].name
  policy = data.aws_iam_policy_document.plan_data.json
}

################################################################################
# Permissions boundary of the function roles the deploy role creates
################################################################################

data "aws_iam_policy_document" "function_boundary" {
  for_each = local.scoped

  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:PutObject", "s3:PutObjectTagging"]
    resources = ["${local.arn}:s3:::${each.value.name}-*/*"]
  }

  statement {
    sid       = "Buckets"
    actions   = ["s3:ListBucket"]
    resources = ["${local.arn}:s3:::${each.value.name}-*"]
  }

  statement {
    sid       = "Keys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["${local.arn}:kms:${local.region_account}:key/*"]
  }

  statement {
    sid       = "DeadLetterQueues"
    actions   = ["sqs:SendMessage"]
    resources = ["${local.arn}:sqs:${local.region_account}:${each.value.name}-*"]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.arn}:logs:${local.region_account}:log-group:/aws/lambda/${each.value.name}:*", "${local.arn}:logs:${local.region_account}:log-group:/aws/lambda/${each.value.name}-*"]
  }

  statement {
    sid       = "Traces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  statement {
    sid = "StatusTables"
    # Items and the byStatus index (table/<name>/index/<index>) of the deployments' status tables.
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    resources = ["${local.arn}:dynamodb:${local.region_account}:table/${each.value.name}-*"]
  }

  statement {
    sid = "OutcomeEvents"
    # The deployment's own bus or an existing one it was given (event_bus_name, e.g. default).
    actions   = ["events:PutEvents"]
    resources = ["${local.arn}:events:${local.region_account}:event-bus/*"]
  }

  # Not another environment's parameters (/<prefix>/<environment>/..., the deployment root's
  # pipeline_config_parameter_name): the Parameters statement allows all of /<prefix>/.
  dynamic "statement" {
    for_each = length(var.environments) > 1 ? [each.key] : []

    content {
      sid       = "NotOtherDeploymentsParameters"
      effect    = "Deny"
      actions   = ["ssm:GetParameter"]
      resources = [for environment in var.environments : "${local.arn}:ssm:${local.region_account}:parameter/${var.name_prefix}/${environment}/*" if environment != statement.value]
    }
  }

  # Not the bus another environment's deployment in this account made (<prefix>-<environment>): its
  # rules (the image alerts, a consumer's) would take this deployment's events for that one's images.
  dynamic "statement" {
    for_each = length(var.environments) > 1 ? [each.key] : []

    content {
      sid       = "NotOtherDeploymentsBuses"
      effect    = "Deny"
      actions   = ["events:PutEvents"]
      resources = [for environment in var.environments : "${local.arn}:events:${local.region_account}:event-bus/${var.name_prefix}-${environment}" if environment != statement.value]
    }
  }

  statement {
    sid = "Parameters"
    # pipeline_config_parameter_name: the deployment root requires names under /<name_prefix>/.
    # The transformation function's signing keys: /<deployment>/transform/signing-keys (modules/transform).
    actions = ["ssm:GetParameter"]
    resources = [
      "${local.arn}:ssm:${local.region_account}:parameter/${var.name_prefix}/*",
      "${local.arn}:ssm:${local.region_account}:parameter/${each.value.name}/transform/*",
    ]
  }

  statement {
    sid = "ResetTheReleaseCheckQuarantineRecord"
    # The release hook deletes the check file's reason record before each check (modules/imgpipe,
    # codedeploy.tf), so the version under test must quarantine it again.
    actions   = ["s3:DeleteObject"]
    resources = ["${local.arn}:s3:::${each.value.name}-quarantine-${local.account_id}/reasons/imgpipe-release-check/*"]
  }

  statement {
    sid = "DeleteOutputsOfDeletedSources"
    # IMGPIPE_DELETE_OUTPUTS: a deleted upload's outputs and manifest go too (output buckets only).
    actions   = ["s3:DeleteObject"]
    resources = ["${local.arn}:s3:::${each.value.name}-output-${local.account_id}/*"]
  }

  statement {
    sid = "DeleteUploadsThroughTheApi"
    # DELETE /images/{key} (modules/api): the API function deletes a source; the processing
    # function's ObjectRemoved handling then removes its outputs. Source buckets only.
    actions   = ["s3:DeleteObject"]
    resources = ["${local.arn}:s3:::${each.value.name}-source-${local.account_id}/*"]
  }

  # The workflow module's roles (terraform/modules/workflow/README.md, "Permissions").
  statement {
    sid = "ReplaceTheSignatureDatabase"
    # The database update replaces files of the ClamAV database, in the workflow buckets only.
    actions   = ["s3:DeleteObject"]
    resources = ["${local.arn}:s3:::${each.value.name}-workflow-${local.account_id}/clamav/*"]
  }

  statement {
    sid = "WriteMapResults"
    # The Distributed Map's ResultWriter uploads its result files in parts.
    actions   = ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.arn}:s3:::${each.value.name}-workflow-${local.account_id}/reprocess/*"]
  }

  statement {
    sid = "InvokeTaskFunctions"
    # Also the release: CodeDeploy invokes the hooks, the hooks invoke the new version and read the
    # alias, CodeDeploy moves the alias (modules/imgpipe/codedeploy.tf).
    actions   = ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:InvokeFunction", "lambda:UpdateAlias"]
    resources = ["${local.arn}:lambda:${local.region_account}:function:${each.value.name}", "${local.arn}:lambda:${local.region_account}:function:${each.value.name}:*", "${local.arn}:lambda:${local.region_account}:function:${each.value.name}-*"]
  }

  statement {
    sid = "AttachToAVpc"
    # The optional VPC mode (modules/imgpipe/vpc.tf): Lambda attaches the functions to the subnets.
    actions   = ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses"]
    resources = ["*"]
  }

  statement {
    sid       = "ReleaseHooks"
    actions   = ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]
    resources = ["${local.arn}:codedeploy:${local.region_account}:deploymentgroup:${each.value.name}/*"]
  }

  statement {
    sid       = "ReleaseAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["${local.arn}:cloudwatch:${local.region_account}:alarm:${each.value.name}-*"]
  }

  statement {
    sid       = "RunStateMachines"
    actions   = ["states:DescribeExecution", "states:RedriveExecution", "states:StartExecution", "states:StartSyncExecution", "states:StopExecution"]
    resources = ["${local.arn}:states:${local.region_account}:stateMachine:${each.value.name}-*", "${local.arn}:states:${local.region_account}:execution:${each.value.name}-*", "${local.arn}:states:${local.region_account}:mapRun:${each.value.name}-*"]
  }

  statement {
    sid = "ModerateImages"
    # No resource-level permissions for DetectModerationLabels.
    actions   = ["rekognition:DetectModerationLabels"]
    resources = ["*"]
  }

  statement {
    sid = "DeliverExecutionLogs"
    # Step Functions' execution logging; these actions take no resource.
    actions   = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "function_boundaries" {
  for_each = local.scoped

  name        = "${each.value.name}-function-boundary"
  description = "Permissions boundary of the ${each.value.name} function roles: the most any of them may do, on ${each.value.name}'s resources alone"
  policy      = data.aws_iam_policy_document.function_boundary[each.key].json
}

# The one boundary of all environments that came before, left in the account (roles made before
# carry it until their deployment's next apply gives them their environment's): no deploy role may
# give it to a role any more. Delete imgpipe-function-boundary by hand once no role carries it.
removed {
  from = aws_iam_policy.function_boundary

  lifecycle {
    destroy = false
  }
}

################################################################################
# Bench role: bench.yml's memory sweep against the dev function
################################################################################

resource "aws_iam_role" "bench" {
  count = length(var.bench_environments) > 0 ? 1 : 0

  name                 = "${var.name_prefix}-github-bench"
  description          = "Assumed by ${var.github_repository}'s bench workflow to run the memory sweep"
  assume_role_policy   = data.aws_iam_policy_document.trust["bench"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "bench" {
  count = length(var.bench_environments) > 0 ? 1 : 0

  statement {
    sid = "SweepFunctionConfigurations"
    # The sweep sets a memory size, publishes a version, invokes it, and moves on.
    actions = ["lambda:GetFunctionConfiguration", "lambda:InvokeFunction", "lambda:PublishVersion", "lambda:UpdateFunctionConfiguration"]
    resources = flatten([
      for environment in var.bench_environments : [
        "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}",
        "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}:*",
      ]
    ])
  }

  statement {
    sid = "DeleteSweepVersions"
    # Qualified ARNs only: the sweep may delete the versions it published, never the function.
    actions   = ["lambda:DeleteFunction"]
    resources = [for environment in var.bench_environments : "${local.arn}:lambda:${local.region_account}:function:${var.name_prefix}-${environment}:*"]
  }

  statement {
    sid = "SampleManifests"
    # --delete-manifest: the sample's manifest goes before each run, so each run processes it.
    actions   = ["s3:DeleteObject"]
    resources = [for environment in var.bench_environments : "${local.arn}:s3:::${var.name_prefix}-${environment}-output-${local.account_id}/manifests/bench/*"]
  }

  statement {
    sid       = "SampleObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [for environment in var.bench_environments : "${local.arn}:s3:::${var.name_prefix}-${environment}-source-${local.account_id}/bench/*"]
  }

  statement {
    sid       = "SampleObjectEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["${local.arn}:kms:${local.region_account}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.name_prefix]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Environment"
      values   = var.bench_environments
    }
  }
}

resource "aws_iam_role_policy" "bench" {
  count = length(var.bench_environments) > 0 ? 1 : 0

  name   = "bench"
  role   = aws_iam_role.bench[0].id
  policy = data.aws_iam_policy_document.bench[0].json
}
