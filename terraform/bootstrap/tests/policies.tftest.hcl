# A managed policy may hold 6,144 characters (an IAM quota; whitespace does not count): the deploy
# role's three and the function boundary must fit with three environments. The AWS provider renders
# policy documents without calling AWS: the provider below never reaches it (no credentials
# checked, no account looked up), and what would need AWS is overridden.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_data {
  target = data.aws_partition.current
  values = { partition = "aws" }
}

override_data {
  target = data.aws_iam_openid_connect_provider.github
  values = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}

override_resource {
  target          = aws_iam_openid_connect_provider.github
  values          = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
  override_during = plan
}

override_module {
  target = module.state_bucket
  outputs = {
    s3_bucket_arn = "arn:aws:s3:::imgpipe-tfstate-123456789012"
    s3_bucket_id  = "imgpipe-tfstate-123456789012"
  }
}

variables {
  region             = "eu-west-1"
  github_repository  = "example-org/imgpipe"
  environments       = ["dev", "staging", "prod"]
  bench_environments = ["dev", "staging", "prod"]
}

run "each_environments_policies_fit_the_iam_quotas" {
  command = plan

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy[environment].json, "/\\s/", "")) <= 6144])
    error_message = "A deploy role's policy deploy has ${max([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy[environment].json, "/\\s/", ""))]...)} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_platform[environment].json, "/\\s/", "")) <= 6144])
    error_message = "A deploy role's policy deploy_platform has ${max([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_platform[environment].json, "/\\s/", ""))]...)} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_extensions[environment].json, "/\\s/", "")) <= 6144])
    error_message = "A deploy role's policy deploy_extensions has ${max([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_extensions[environment].json, "/\\s/", ""))]...)} characters (without whitespace): a managed policy may hold 6,144."
  }

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_network[environment].json, "/\\s/", "")) <= 6144])
    error_message = "A deploy role's policy deploy_network is over 6,144 characters (without whitespace)."
  }

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.deploy_transform[environment].json, "/\\s/", "")) <= 6144])
    error_message = "A deploy role's policy deploy_transform is over 6,144 characters (without whitespace)."
  }

  assert {
    condition     = alltrue([for environment in var.environments : length(replace(data.aws_iam_policy_document.function_boundary[environment].json, "/\\s/", "")) <= 6144])
    error_message = "An environment's function boundary is over 6,144 characters (without whitespace): a managed policy may hold 6,144."
  }
}

# release.yml pushes every build to the dev repository; deploy.yml copies it by digest with the
# staging or prod deploy role, which must be able to read it, in one shared account as across accounts.
run "staging_and_prod_deploy_roles_may_read_the_builds_they_copy" {
  command = plan

  assert {
    condition = alltrue([
      for environment in ["staging", "prod"] : contains(
        flatten([for statement in jsondecode(data.aws_iam_policy_document.deploy_extensions[environment].json).Statement : statement.Resource if contains(try(tolist(statement.Action), [statement.Action]), "ecr:BatchGetImage")]),
        "arn:aws:ecr:eu-west-1:123456789012:repository/imgpipe-dev"
      )
    ])
    error_message = "In one account with dev, the staging and prod deploy roles should be allowed to read the dev repository's images (ecr:BatchGetImage), which deploy.yml copies into theirs."
  }

  assert {
    condition = alltrue([
      for environment in ["staging", "prod"] : contains(
        flatten([for statement in jsondecode(data.aws_iam_policy_document.deploy_extensions[environment].json).Statement : statement.Resource if contains(try(tolist(statement.Action), [statement.Action]), "ecr:BatchGetImage")]),
        "arn:aws:ecr:eu-west-1:123456789012:repository/imgpipe-dev-scanner"
      )
    ])
    error_message = "In one account with dev, the staging and prod deploy roles should be allowed to read the dev scanner repository's images too (release.yml builds the scanner into imgpipe-dev-scanner, deploy.yml copies it)."
  }

  assert {
    condition     = !strcontains(data.aws_iam_policy_document.deploy_extensions["dev"].json, "PullBuildsToCopy")
    error_message = "The dev deploy role builds into its own repository and copies from none."
  }
}

run "copies_builds_from_the_dev_repository_of_another_account" {
  command = plan

  variables {
    environments                 = ["prod"]
    bench_environments           = []
    image_source_repository_arns = ["arn:aws:ecr:eu-west-1:111111111111:repository/imgpipe-dev"]
  }

  assert {
    condition     = strcontains(data.aws_iam_policy_document.deploy_extensions["prod"].json, "arn:aws:ecr:eu-west-1:111111111111:repository/imgpipe-dev") && !strcontains(data.aws_iam_policy_document.deploy_extensions["prod"].json, "123456789012:repository/imgpipe-dev")
    error_message = "A prod account of its own should read builds from the dev repository image_source_repository_arns names, and no dev repository of its own account."
  }

  assert {
    condition     = strcontains(data.aws_iam_policy_document.deploy_extensions["prod"].json, "arn:aws:ecr:eu-west-1:111111111111:repository/imgpipe-dev-scanner")
    error_message = "A prod account of its own should read the scanner builds from <image_source_repository_arns>-scanner too."
  }
}

# Every function role carries the boundary: what a function reads must be inside it. The
# transformation function reads its signing keys at /<deployment>/transform/signing-keys
# (modules/transform, signing_keys_parameter_name's default), the pipeline functions the document
# at pipeline_config_parameter_name, under /imgpipe/.
run "function_boundary_lets_the_functions_read_their_parameters" {
  command = plan

  assert {
    condition = alltrue([
      for arn in concat(
        ["arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-prod/transform/signing-keys"],
        ["arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/prod/pipeline"],
        ) : anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["prod"].json).Statement :
          contains(try(tolist(statement.Action), [statement.Action]), "ssm:GetParameter")
          && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", arn))])
      ])
    ])
    error_message = "The prod function boundary should let the functions read the transformation's signing keys (/imgpipe-prod/transform/signing-keys) and the pipeline document (/imgpipe/...)."
  }
}

run "one_deploy_role_per_environment_trusting_only_its_own_subject" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.deploy)) == toset(["dev", "staging", "prod"]) && aws_iam_role.deploy["prod"].name == "imgpipe-github-deploy-prod"
    error_message = "Each environment should have its own deploy role, imgpipe-github-deploy-<environment>."
  }

  assert {
    condition = alltrue([
      for environment in ["dev", "staging", "prod"] :
      jsondecode(data.aws_iam_policy_document.trust["deploy-${environment}"].json).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/imgpipe:environment:${environment}"
    ])
    error_message = "Each deploy role should trust exactly one subject: its own environment's."
  }

  assert {
    condition = alltrue([
      for environment in ["dev", "staging", "prod"] :
      jsondecode(data.aws_iam_policy_document.trust["plan-${environment}"].json).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/imgpipe:environment:${environment}-plan"
      && aws_iam_role_policy_attachment.plan[environment].policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ])
    error_message = "Each plan role should trust only its <environment>-plan environment and read only."
  }

  assert {
    condition = toset(flatten([jsondecode(data.aws_iam_policy_document.trust["bench"].json).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"]])) == toset([
      for environment in ["dev", "staging", "prod"] : "repo:example-org/imgpipe:environment:${environment}-bench"
    ])
    error_message = "The bench role should trust only the <environment>-bench environments: its sweep runs npm packages' code with its OIDC token, which in <environment> could assume that environment's deploy role."
  }

  assert {
    condition = (
      strcontains(data.aws_iam_policy_document.deploy["dev"].json, "function:imgpipe-dev")
      && !strcontains(data.aws_iam_policy_document.deploy["dev"].json, "imgpipe-prod")
      && !strcontains(data.aws_iam_policy_document.deploy_platform["dev"].json, "imgpipe-prod")
      && !strcontains(data.aws_iam_policy_document.deploy_extensions["dev"].json, "imgpipe-prod")
      && !strcontains(data.aws_iam_policy_document.deploy_network["dev"].json, "imgpipe-prod")
      && strcontains(data.aws_iam_policy_document.deploy_network["dev"].json, "trail/imgpipe-dev-")
      && strcontains(data.aws_iam_policy_document.deploy["dev"].json, "imgpipe-tfstate-123456789012/imgpipe/dev/*")
    )
    error_message = "The dev deploy role should name dev's resources and state alone, nothing of prod."
  }

  assert {
    condition     = length(aws_iam_role_policy_attachment.deploy) == 15 && aws_iam_role_policy_attachment.deploy["staging/network"].role == "imgpipe-github-deploy-staging" && aws_iam_role_policy_attachment.deploy["prod/transform"].role == "imgpipe-github-deploy-prod"
    error_message = "Each deploy role should carry its own five managed policies."
  }
}

# The plan roles are assumed by same-repository pull requests: ReadOnlyAccess reads SecureStrings and
# the aws/ssm key decrypts them through SSM for anyone in the account, so each plan role is denied
# its deployment's signing keys (modules/transform), by name, by path and through KMS.
run "plan_roles_cannot_read_the_signing_keys" {
  command = plan

  assert {
    condition = alltrue([
      for environment in ["dev", "staging", "prod"] :
      aws_iam_role_policy.plan_secrets[environment].role == "imgpipe-github-plan-${environment}"
      && length([
        for s in jsondecode(data.aws_iam_policy_document.plan_secrets[environment].json).Statement : s
        if s.Effect == "Deny" && s.Sid == "NotTheSigningKeys" && try(toset(s.Action), toset([])) == toset(["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters"])
        && s.Resource == "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-${environment}/transform/*"
      ]) == 1
      && length([
        for s in jsondecode(data.aws_iam_policy_document.plan_secrets[environment].json).Statement : s
        if s.Effect == "Deny" && s.Action == "ssm:GetParametersByPath" && s.Resource == "*"
      ]) == 1
      && length([
        for s in jsondecode(data.aws_iam_policy_document.plan_secrets[environment].json).Statement : s
        if s.Effect == "Deny" && s.Action == "kms:Decrypt" && try(s.Condition.StringLike["kms:EncryptionContext:PARAMETER_ARN"], "") == "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-${environment}/transform/*"
      ]) == 1
    ])
    error_message = "Each plan role should be denied GetParameter(s)/GetParameterHistory on its deployment's /<deployment>/transform/*, GetParametersByPath everywhere, and kms:Decrypt for those parameters."
  }
}

# ReadOnlyAccess also reads data no plan needs: the status table's items (every upload's key, its
# owner, its error) and the functions' log events (keys, owners). Any same-repository branch can
# run a job in an <environment>-plan environment, so each plan role is denied those reads; what a
# plan refreshes (DescribeTable, DescribeLogGroups, ...) stays allowed.
run "plan_roles_cannot_read_items_or_log_events" {
  command = plan

  assert {
    condition = alltrue([
      for environment in ["dev", "staging", "prod"] :
      aws_iam_role_policy.plan_data[environment].role == "imgpipe-github-plan-${environment}"
      && length([
        for s in jsondecode(data.aws_iam_policy_document.plan_data.json).Statement : s
        if s.Effect == "Deny" && s.Resource == "*" && length(setsubtract([
          "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PartiQLSelect", "dynamodb:Query", "dynamodb:Scan", "dynamodb:GetRecords",
          "logs:FilterLogEvents", "logs:GetLogEvents", "logs:GetLogRecord", "logs:GetQueryResults", "logs:StartLiveTail", "logs:StartQuery", "logs:Unmask",
        ], try(toset(s.Action), toset([])))) == 0
      ]) == 1
      && length([
        for s in jsondecode(data.aws_iam_policy_document.plan_data.json).Statement : s
        if s.Effect == "Allow" || length([for a in try(tolist(s.Action), [s.Action]) : a if can(regex("^(dynamodb|logs):(Describe|List)", a))]) > 0
      ]) == 0
    ])
    error_message = "Each plan role should be denied DynamoDB item reads and CloudWatch Logs event reads everywhere, and nothing a plan's refresh uses (Describe*, List*)."
  }
}

# One boundary per environment, and each deploy role may give its own alone: in one shared account a
# dev function (made by the dev deploy role, which needs no reviewer) can reach nothing of prod. The
# statements on "*" (X-Ray, ENIs, Rekognition, log delivery) name no resource of a deployment.
run "each_environments_function_roles_reach_that_environment_alone" {
  command = plan

  assert {
    condition = alltrue([
      for arn in [
        "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-prod:live",
        "arn:aws:s3:::imgpipe-prod-source-123456789012/photos/a.jpg",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-prod/transform/signing-keys",
        ] : !anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["dev"].json).Statement :
          anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : pattern != "*" && can(regex("^${replace(replace(pattern, ".", "\\."), "*", ".*")}$", arn))])
      ])
    ])
    error_message = "The dev function boundary should reach no prod function, object or signing key."
  }

  assert {
    condition = alltrue([
      for environment in var.environments : strcontains(data.aws_iam_policy_document.deploy[environment].json, "policy/imgpipe-${environment}-function-boundary")
      && length(regexall("function-boundary", data.aws_iam_policy_document.deploy[environment].json)) == 1
    ])
    error_message = "Each deploy role should give the roles it makes its own environment's boundary, and no other."
  }
}

# The outcome events go to the deployment's own bus or an existing one it was given (event_bus_name,
# e.g. default): not to another environment's bus, whose rules (the image alerts, a consumer's)
# would take a dev function's events for prod's images.
run "function_boundary_keeps_the_functions_off_other_environments_buses" {
  command = plan

  assert {
    condition = alltrue([
      for case in [
        { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-prod", allowed = false },
        { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-staging", allowed = false },
        { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/imgpipe-dev", allowed = true },
        { arn = "arn:aws:events:eu-west-1:123456789012:event-bus/default", allowed = true },
        ] : case.allowed == (
        anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["dev"].json).Statement :
          statement.Effect == "Allow" && contains(try(tolist(statement.Action), [statement.Action]), "events:PutEvents")
          && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", case.arn))])
        ])
        && !anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["dev"].json).Statement :
          statement.Effect == "Deny" && contains(try(tolist(statement.Action), [statement.Action]), "events:PutEvents")
          && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", case.arn))])
        ])
      )
    ])
    error_message = "The dev function boundary should let the functions send events to dev's bus or an existing one (default), never to staging's or prod's."
  }
}

run "function_boundary_of_an_account_of_one_environment_denies_no_bus" {
  command = plan

  variables {
    environments       = ["prod"]
    bench_environments = []
  }

  assert {
    condition     = !anytrue([for statement in jsondecode(data.aws_iam_policy_document.function_boundary["prod"].json).Statement : statement.Effect == "Deny"])
    error_message = "With one environment in the account there is no other deployment's bus to deny (and a statement without resources is no policy)."
  }
}

# The pipeline documents are named /imgpipe/<environment>/... (the deployment root's
# pipeline_config_parameter_name): a function reads its own environment's, never another's.
run "function_boundary_keeps_the_functions_off_other_environments_parameters" {
  command = plan

  assert {
    condition = alltrue([
      for case in [
        { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/prod/pipeline", allowed = false },
        { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/staging/pipeline", allowed = false },
        { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe/dev/pipeline", allowed = true },
        { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/imgpipe-dev/transform/signing-keys", allowed = true },
        ] : case.allowed == (
        anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["dev"].json).Statement :
          statement.Effect == "Allow" && contains(try(tolist(statement.Action), [statement.Action]), "ssm:GetParameter")
          && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", case.arn))])
        ])
        && !anytrue([
          for statement in jsondecode(data.aws_iam_policy_document.function_boundary["dev"].json).Statement :
          statement.Effect == "Deny" && contains(try(tolist(statement.Action), [statement.Action]), "ssm:GetParameter")
          && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", case.arn))])
        ])
      )
    ])
    error_message = "The dev function boundary should let the functions read dev's parameters (/imgpipe/dev/..., its signing keys), never staging's or prod's (/imgpipe/<environment>/...)."
  }
}

# Every environment's keys carry the project tag (the deployment root's default_tags): a key
# statement limited by it alone let the dev deploy role, which needs no reviewer, schedule the
# deletion of prod's keys in one shared account, rewrite their policies or decrypt with them. Each
# key statement also names the role's own environment (the Environment default tag), and a key that
# already names another one cannot be retagged.
run "each_deploy_role_and_the_bench_role_reach_their_own_environments_keys_alone" {
  command = plan

  variables {
    bench_environments = ["dev"]
  }

  assert {
    condition = alltrue([
      for statement in concat(
        jsondecode(data.aws_iam_policy_document.deploy_platform["dev"].json).Statement,
        jsondecode(data.aws_iam_policy_document.deploy_transform["dev"].json).Statement,
        jsondecode(data.aws_iam_policy_document.bench[0].json).Statement,
      ) :
      try(statement.Condition.StringEquals["aws:ResourceTag/Environment"], statement.Condition.StringEqualsIfExists["aws:ResourceTag/Environment"], null) == "dev"
      if anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : pattern == "*" || strcontains(pattern, ":key/")])
      && anytrue([for action in try(tolist(statement.Action), [statement.Action]) : contains(["kms:CreateGrant", "kms:Decrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource"], action)])
    ])
    error_message = "Every statement of the dev deploy role and the dev bench role that reaches KMS keys should hold to keys tagged Environment = dev, not every key of the project (prod's in one shared account)."
  }

  assert {
    condition     = one([for statement in jsondecode(data.aws_iam_policy_document.deploy_platform["dev"].json).Statement : try(statement.Condition.StringEquals["aws:RequestTag/Environment"], null) if statement.Sid == "CreateTaggedKeys"]) == "dev"
    error_message = "The dev deploy role should create keys only with its own Environment tag."
  }
}

# HTTP APIs, user pools and CloudFront distributions are named by generated ids: a statement on
# userpool/* or distribution/* alone let the dev deploy role (no reviewers) delete prod's user pool,
# read its clients' secrets, or repoint prod's distribution, in one shared account. Each deploy role
# is kept off whatever carries another environment's tag (the deployment root's default_tags), and
# creates APIs, custom domains and user pools only with its own.
run "each_deploy_role_keeps_off_other_environments_apis_user_pools_and_distributions" {
  command = plan

  assert {
    condition = alltrue([
      for environment in var.environments : anytrue([
        for statement in jsondecode(data.aws_iam_policy_document.deploy_extensions[environment].json).Statement :
        statement.Effect == "Deny" && statement.Resource == "*"
        && alltrue([for action in ["apigateway:PATCH", "apigateway:DELETE", "cognito-idp:DeleteUserPool", "cognito-idp:DescribeUserPoolClient", "cloudfront:UpdateDistribution", "cloudfront:DeleteMonitoringSubscription", "cloudfront:UntagResource"] :
        anytrue([for pattern in try(tolist(statement.Action), [statement.Action]) : can(regex("^${replace(pattern, "*", ".*")}$", action))])])
        && try(statement.Condition.StringNotEquals["aws:ResourceTag/Environment"], null) == environment
        && try(statement.Condition.Null["aws:ResourceTag/Environment"], null) == "false"
      ])
    ])
    error_message = "Each deploy role should be denied changing HTTP APIs, user pools and CloudFront distributions tagged with another environment."
  }

  assert {
    condition = alltrue([
      for statement in concat(
        jsondecode(data.aws_iam_policy_document.deploy_extensions["dev"].json).Statement,
        jsondecode(data.aws_iam_policy_document.deploy_transform["dev"].json).Statement,
      ) :
      try(statement.Condition.StringEquals["aws:RequestTag/Environment"], null) == "dev"
      if statement.Effect == "Allow" && (
        anytrue([for action in try(tolist(statement.Action), [statement.Action]) : contains(["cognito-idp:CreateUserPool", "cognito-idp:*"], action)])
        || (anytrue([for action in try(tolist(statement.Action), [statement.Action]) : contains(["apigateway:POST", "apigateway:*"], action)])
        && anytrue([for pattern in try(tolist(statement.Resource), [statement.Resource]) : contains(["arn:aws:apigateway:eu-west-1::/apis", "arn:aws:apigateway:eu-west-1::/domainnames", "*"], pattern)]))
      )
    ])
    error_message = "The dev deploy role should create HTTP APIs, custom domain names and user pools only with its own Environment tag."
  }
}

# The workflow module's task functions are released as the function is (modules/workflow/
# codedeploy.tf, deploy.yml "Release the task functions through CodeDeploy"): the deploy role
# creates their deployment groups, alarms and the release role's policy, reads their live aliases
# and creates, watches and stops their deployments; the release role, under the environment's
# function boundary, moves their aliases and reads their alarms. Every pair below, for each task
# function of a deployment `imgpipe-prod`, must be allowed by a statement of the prod deploy role
# (its five policies) or of the prod boundary, and none of the deploy role's by dev's.
run "deploy_role_releases_the_task_functions" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for task in ["inspect", "scan", "moderate", "process", "quarantine", "fail", "update-database", "reprocess-plan", "reprocess-batch", "reprocess-summarize"] : [
        for pair in [
          # deploy.yml: the alias's version, then a deployment of the AppSpec, watched and, on a cancel, stopped.
          ["lambda:GetAlias", "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-prod-${task}:live"],
          ["codedeploy:CreateDeployment", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:GetDeployment", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:StopDeployment", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:RegisterApplicationRevision", "arn:aws:codedeploy:eu-west-1:123456789012:application:imgpipe-prod"],
          ["codedeploy:GetDeploymentConfig", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentconfig:CodeDeployDefault.LambdaCanary10Percent15Minutes"],
          # Terraform: the deployment group, its alarm, the release role's policy on the task aliases.
          ["codedeploy:CreateDeploymentGroup", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:GetDeploymentGroup", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:UpdateDeploymentGroup", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:DeleteDeploymentGroup", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:TagResource", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["codedeploy:ListTagsForResource", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-${task}"],
          ["cloudwatch:PutMetricAlarm", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:imgpipe-prod-${task}-release-errors"],
          ["cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:imgpipe-prod-${task}-release-errors"],
          ["cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:imgpipe-prod-${task}-release-errors"],
          ["cloudwatch:TagResource", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:imgpipe-prod-${task}-release-errors"],
          ["iam:PassRole", "arn:aws:iam::123456789012:role/imgpipe-prod-codedeploy"],
          ["iam:PutRolePolicy", "arn:aws:iam::123456789012:role/imgpipe-prod-codedeploy"],
          ["iam:GetRolePolicy", "arn:aws:iam::123456789012:role/imgpipe-prod-codedeploy"],
          ["iam:DeleteRolePolicy", "arn:aws:iam::123456789012:role/imgpipe-prod-codedeploy"],
          ] : anytrue(flatten([
            for s in concat(jsondecode(data.aws_iam_policy_document.deploy["prod"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_platform["prod"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_extensions["prod"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_network["prod"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_transform["prod"].json).Statement) : [
              s.Effect == "Allow" && contains(try(tolist(s.Action), [s.Action]), pair[0])
              && anytrue([for pattern in try(tolist(s.Resource), [s.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", pair[1]))])
            ]
        ]))
      ]
    ]))
    error_message = "The prod deploy role should be allowed everything deploy.yml and Terraform do with the task functions' releases: their live aliases, deployment groups (task-<task>), deployments, release alarms (<deployment>-<task>-release-errors) and the release role's policy."
  }

  assert {
    condition = alltrue(flatten([
      for task in ["inspect", "scan", "moderate", "process", "quarantine", "fail", "update-database", "reprocess-plan", "reprocess-batch", "reprocess-summarize"] : [
        for pair in [
          ["lambda:GetAlias", "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-prod-${task}:live"],
          ["lambda:GetProvisionedConcurrencyConfig", "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-prod-${task}:live"],
          ["lambda:UpdateAlias", "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-prod-${task}:live"],
          ["cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:imgpipe-prod-${task}-release-errors"],
          ] : anytrue([
            for s in jsondecode(data.aws_iam_policy_document.function_boundary["prod"].json).Statement :
            s.Effect == "Allow" && contains(try(tolist(s.Action), [s.Action]), pair[0])
            && anytrue([for pattern in try(tolist(s.Resource), [s.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", pair[1]))])
        ])
      ]
    ]))
    error_message = "The prod function boundary, which bounds the release role (imgpipe-prod-codedeploy), should let CodeDeploy move each task function's live alias and read its release alarm."
  }

  assert {
    condition = !anytrue(flatten([
      for s in concat(jsondecode(data.aws_iam_policy_document.deploy["dev"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_platform["dev"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_extensions["dev"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_network["dev"].json).Statement, jsondecode(data.aws_iam_policy_document.deploy_transform["dev"].json).Statement) : [
        s.Effect == "Allow" && length(setintersection(toset(try(tolist(s.Action), [s.Action])), toset(["codedeploy:CreateDeployment", "codedeploy:StopDeployment", "codedeploy:CreateDeploymentGroup"]))) > 0
        && anytrue([for pattern in try(tolist(s.Resource), [s.Resource]) : can(regex("^${replace(pattern, "*", ".*")}$", "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:imgpipe-prod/task-process"))])
      ]
    ]))
    error_message = "The dev deploy role (no reviewers) should not create, stop or change a deployment of prod's task functions."
  }
}
