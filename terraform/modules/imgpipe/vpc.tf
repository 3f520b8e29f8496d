# Optional (vpc): the deployment's functions (the pipeline function and the release hooks) in
# private subnets of a VPC of their own, with no NAT gateway and no internet route. They reach
# AWS through VPC endpoints only: gateway endpoints for S3 and DynamoDB (free, on the route table),
# and interface endpoints for the other services their code calls:
#   events      outcome events (EventBridge PutEvents)
#   ssm         the pipeline document, when pipeline_config_parameter_name is set
#   xray        traces, when tracing_enabled
#   lambda      the release hooks invoke the new version and read the alias
#   codedeploy  the release hooks read the deployment and report their verdict
# Not needed: CloudWatch Logs, the dead-letter queue (SQS) and the function's credentials are
# handled by the Lambda service outside the VPC; KMS is called by S3, DynamoDB and SSM themselves.
# The functions' security group has no inbound rule and sends HTTPS only to the endpoints.

locals {
  vpc_enabled = var.vpc != null
  vpc_zones   = local.vpc_enabled ? coalesce(var.vpc.availability_zones, slice(data.aws_availability_zones.this[0].names, 0, 2)) : []
  vpc_interface_endpoints = local.vpc_enabled ? toset(concat(
    ["events", "lambda", "codedeploy"],
    var.tracing_enabled ? ["xray"] : [],
    var.pipeline_config_parameter_name == null ? [] : ["ssm"],
  )) : toset([])
  vpc_config = local.vpc_enabled ? [{
    subnet_ids         = [for zone in local.vpc_zones : aws_subnet.this[zone].id]
    security_group_ids = [aws_security_group.functions[0].id]
  }] : []
}

data "aws_availability_zones" "this" {
  count = local.vpc_enabled ? 1 : 0
  state = "available"
}

resource "aws_vpc" "this" {
  count = local.vpc_enabled ? 1 : 0

  cidr_block = var.vpc.cidr_block
  # Private DNS of the interface endpoints: the SDKs' default endpoints resolve to them.
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "this" {
  for_each = toset(local.vpc_zones)

  vpc_id            = aws_vpc.this[0].id
  availability_zone = each.value
  cidr_block        = cidrsubnet(var.vpc.cidr_block, 4, index(local.vpc_zones, each.value))
  tags              = merge(var.tags, { Name = "${var.name}-private-${each.value}" })
}

# No route to the internet: only the gateway endpoints' prefix lists.
resource "aws_route_table" "this" {
  count = local.vpc_enabled ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.name}-private" })
}

resource "aws_route_table_association" "this" {
  for_each = aws_subnet.this

  subnet_id      = each.value.id
  route_table_id = aws_route_table.this[0].id
}

# What the gateway endpoints lead to: the deployment's three buckets and its status table, for what
# the functions in the VPC do there (iam.tf, codedeploy.tf), whatever a role allows. With the
# default policy (anything of the service), code in the VPC, such as a decoder exploited by a
# crafted upload, could still write what it read to another account's bucket (one with a public
# write policy, or through a presigned URL), the one way out a VPC with no internet route has. The
# ARNs are derived from the names, so they hold before those exist.
data "aws_iam_policy_document" "s3_endpoint" {
  count = local.vpc_enabled ? 1 : 0

  statement {
    sid       = "TheDeploymentsBucketsAlone"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging"]
    resources = flatten([for name in values(local.bucket_names) : ["arn:${local.partition}:s3:::${name}", "arn:${local.partition}:s3:::${name}/*"]])

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

data "aws_iam_policy_document" "dynamodb_endpoint" {
  count = local.vpc_enabled ? 1 : 0

  statement {
    sid     = "TheDeploymentsStatusTableAlone"
    actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    resources = [
      "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.status_table_name}",
      "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.status_table_name}/index/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

resource "aws_vpc_endpoint" "gateway" {
  for_each = local.vpc_enabled ? toset(["s3", "dynamodb"]) : toset([])

  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.this[0].id]
  policy            = each.value == "s3" ? data.aws_iam_policy_document.s3_endpoint[0].json : data.aws_iam_policy_document.dynamodb_endpoint[0].json
  tags              = merge(var.tags, { Name = "${var.name}-${each.value}" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.vpc_interface_endpoints

  vpc_id              = aws_vpc.this[0].id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = [for zone in local.vpc_zones : aws_subnet.this[zone].id]
  security_group_ids  = [aws_security_group.endpoints[0].id]
  tags                = merge(var.tags, { Name = "${var.name}-${each.value}" })
}

# The functions: nothing may connect to them; they connect to the endpoints alone.
resource "aws_security_group" "functions" {
  count = local.vpc_enabled ? 1 : 0

  name        = "${var.name}-functions"
  description = "The ${var.name} functions: no inbound rule; HTTPS to the VPC endpoints only"
  vpc_id      = aws_vpc.this[0].id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "functions_to_endpoints" {
  count = local.vpc_enabled ? 1 : 0

  security_group_id            = aws_security_group.functions[0].id
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_egress_rule" "functions_to_gateways" {
  for_each = aws_vpc_endpoint.gateway

  security_group_id = aws_security_group.functions[0].id
  description       = "HTTPS to ${each.key} through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value.prefix_list_id
}

resource "aws_security_group" "endpoints" {
  count = local.vpc_enabled ? 1 : 0

  name        = "${var.name}-endpoints"
  description = "The ${var.name} interface endpoints: HTTPS from the functions"
  vpc_id      = aws_vpc.this[0].id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  count = local.vpc_enabled ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the functions"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.functions[0].id
}

# What Lambda needs to attach a function to the subnets (AWSLambdaVPCAccessExecutionRole's
# actions). EC2's network interface actions take no resource-level permission when Lambda calls
# them on the function's behalf: "*", as for X-Ray.
data "aws_iam_policy_document" "vpc" {
  statement {
    sid       = "AttachToTheVpc"
    actions   = ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "vpc" {
  for_each = local.vpc_enabled ? { function = aws_iam_role.this.id, release_check = aws_iam_role.release_check.id } : {}

  name   = "imgpipe-vpc"
  role   = each.value
  policy = data.aws_iam_policy_document.vpc.json
}
