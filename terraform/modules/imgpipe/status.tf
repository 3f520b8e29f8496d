# The status table: one item per source object (id = "<bucket>/<key>"), written by both functions
# with conditional updates, read by `imgpipe status`. Its shape is defined once, in
# src/status/dynamodb.ts (STATUS_TABLE, statusTableDefinition); test/terraform holds this resource
# to it. The table indexes the manifests; it does not replace them.
resource "aws_dynamodb_table" "this" {
  count = var.create_status_table ? 1 : 0

  name = local.status_table_name
  # One write per outcome, in bursts that follow the uploads: on demand, no capacity to tune.
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.status_table_deletion_protection
  tags                        = var.tags

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "listStatus"
    type = "S"
  }

  attribute {
    name = "updatedAt"
    type = "S"
  }

  # Sparse: only processing, quarantined and failed items carry listStatus, so the index lists what
  # needs attention by time ("what failed in the last day") and processed items never enter it.
  global_secondary_index {
    name            = local.status_index_name
    hash_key        = "listStatus"
    range_key       = "updatedAt"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.kms.key_arn
  }
}
