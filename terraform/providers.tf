# The only provider configuration: modules inherit it. `invoke deploy --target local` adds a rendered
# providers_override.tf beside this file in its own working directory (endpoints -> the local AWS).
provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = var.name, ManagedBy = "terraform" }, var.tags)
  }
}
