# An optional user pool: hosted sign-in, a public client for the web page (authorization code with
# PKCE; no secret, since a page cannot keep one), and the admin group.
resource "aws_cognito_user_pool" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name                     = "${var.name}-users"
  auto_verified_attributes = ["email"]
  username_attributes      = ["email"]
  deletion_protection      = var.force_destroy ? "INACTIVE" : "ACTIVE"
  tags                     = var.tags

  password_policy {
    minimum_length    = 12
    require_lowercase = true
    require_uppercase = true
    require_numbers   = true
    require_symbols   = false
  }

  admin_create_user_config {
    allow_admin_create_user_only = true
  }
}

resource "aws_cognito_user_pool_domain" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  domain       = coalesce(var.cognito_domain_prefix, "${var.name}-${local.account_id}")
  user_pool_id = aws_cognito_user_pool.this[0].id
}

# The page's origin and every named origin but *: where the hosted sign-in sends the browser back.
locals {
  cognito_callback_urls = concat(local.web_enabled ? ["${local.web_origin}/"] : [], [for origin in var.cors_allowed_origins : "${origin}/" if origin != "*"])
}

resource "aws_cognito_user_pool_client" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name                                 = "${var.name}-web"
  user_pool_id                         = aws_cognito_user_pool.this[0].id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = local.cognito_callback_urls
  logout_urls                          = local.cognito_callback_urls
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  access_token_validity                = 1
  id_token_validity                    = 1
  refresh_token_validity               = 30

  token_validity_units {
    access_token  = "hours"
    id_token      = "hours"
    refresh_token = "days"
  }

  lifecycle {
    # The client signs in with the code flow alone: Cognito refuses it without a callback URL
    # ("CallbackUrls can not be empty when code flow or implicit flow is selected"), at the apply.
    precondition {
      condition     = length(local.cognito_callback_urls) > 0
      error_message = "create_cognito_user_pool needs a page to sign in from: web_dir, or an origin in cors_allowed_origins other than *, whose / is the app client's callback URL. Without one Cognito refuses the client (CallbackUrls can not be empty when code flow is selected), and no one could get a token."
    }

    # Cognito takes https:// callback URLs, and http:// for localhost alone (testing).
    precondition {
      condition     = alltrue([for url in local.cognito_callback_urls : startswith(url, "https://") || can(regex("^http://localhost(:[0-9]+)?/$", url))])
      error_message = "With create_cognito_user_pool every origin of cors_allowed_origins is one of the app client's callback URLs, which Cognito takes over https:// only (http:// for localhost alone): ${join(", ", [for url in local.cognito_callback_urls : trimsuffix(url, "/") if !(startswith(url, "https://") || can(regex("^http://localhost(:[0-9]+)?/$", url)))])} would be refused at the apply."
    }
  }
}

resource "aws_cognito_user_group" "this" {
  count = var.create_cognito_user_pool ? 1 : 0

  name         = var.admin_group
  user_pool_id = aws_cognito_user_pool.this[0].id
  description  = "May list, read and delete every image through the imgpipe API."
}
