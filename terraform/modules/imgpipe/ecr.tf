module "ecr" {
  source = "./modules/ecr-repository"

  name             = var.name
  max_image_count  = var.ecr_max_image_count
  force_delete     = var.ecr_force_delete
  pull_account_ids = var.ecr_pull_account_ids
  tags             = var.tags
}
