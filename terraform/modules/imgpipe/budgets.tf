locals {
  budget_notifications = [
    { type = "ACTUAL", threshold = 80 },
    { type = "ACTUAL", threshold = 95 },
    { type = "FORECASTED", threshold = 100 },
  ]
}

resource "aws_budgets_budget" "this" {
  count = var.budget_monthly_limit_usd == null ? 0 : 1

  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.budget_monthly_limit_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  tags         = var.tags

  dynamic "cost_filter" {
    for_each = var.budget_cost_filter_tag == null ? [] : [var.budget_cost_filter_tag]

    content {
      name   = "TagKeyValue"
      values = [format("user:%s$%s", cost_filter.value.key, cost_filter.value.value)]
    }
  }

  # Spent so far at 80% and 95% of the limit, and AWS's forecast for the month above it: the
  # forecast warns while there is still time to act.
  dynamic "notification" {
    for_each = local.budget_notifications

    content {
      comparison_operator       = "GREATER_THAN"
      notification_type         = notification.value.type
      threshold                 = notification.value.threshold
      threshold_type            = "PERCENTAGE"
      subscriber_sns_topic_arns = [aws_sns_topic.this.arn]
    }
  }

  depends_on = [aws_sns_topic_policy.this]
}
