# Magic Castle's openstack module variables (releases 14.3.0 and 15.6.1), same names and defaults,
# so one main.tf works with either module. Types stay within Terraform 1.0: no optional(), hence
# `any` for firewall_rules and puppet_conf. Variables marked "ignored" are accepted and unused.

variable "cluster_name" {
  type = string
  validation {
    condition     = can(regex("^[a-z][0-9a-z-]{1,40}$", var.cluster_name))
    error_message = "The cluster_name must match ^[a-z][0-9a-z-]{1,40}$."
  }
}

variable "domain" {
  type = string
  validation {
    condition     = can(regex("^[a-z][0-9a-z-.]*$", var.domain))
    error_message = "The domain must match ^[a-z][0-9a-z-.]*$."
  }
}

variable "image" {
  type        = any
  description = "Image every instance boots unless its instance entry names another: an image id, or a name regex (newest active match)"
}

variable "instances" {
  description = "Map of prefix => { type, tags, count, image?, disk_size? }"
}

variable "volumes" {
  description = "Map of tag => map of name => { size, type? }"
}

variable "public_keys" {
  type = list(string)
}

variable "nb_users" {
  type    = number
  default = 0
}

variable "guest_passwd" {
  type    = string
  default = ""
  validation {
    condition     = length(var.guest_passwd) == 0 || length(var.guest_passwd) >= 8
    error_message = "The guest_passwd must be empty or at least 8 characters."
  }
}

variable "config_git_url" {
  type        = string
  description = "ignored: no Puppet runs on the bundled module's instances"
}

variable "config_version" {
  type        = string
  description = "ignored"
}

variable "hieradata" {
  type        = string
  default     = "---"
  description = "ignored"
}

variable "hieradata_dir" {
  type        = string
  default     = ""
  description = "ignored"
}

variable "sudoer_username" {
  type    = string
  default = "centos"
}

variable "firewall_rules" {
  type        = any
  description = "Map of ingress rules { from_port, to_port, tag, protocol = tcp, ethertype = IPv4, cidr = 0.0.0.0/0 }, each on the security group of the instances carrying its tag"
  default = {
    ssh         = { from_port = 22, to_port = 22, tag = "login" }
    http        = { from_port = 80, to_port = 80, tag = "proxy" }
    https       = { from_port = 443, to_port = 443, tag = "proxy" }
    GlobusHTTPS = { from_port = 443, to_port = 443, tag = "dtn" }
    GridFTP     = { from_port = 50000, to_port = 51000, tag = "dtn" }
    # Not in Magic Castle's defaults: ping and path MTU discovery to the login nodes (every type).
    icmp = { from_port = 0, to_port = 0, tag = "login", protocol = "icmp" }
  }
}

variable "software_stack" {
  type        = string
  default     = "alliance"
  description = "ignored"
}

variable "pool" {
  description = "Hostnames of pool-tagged instances to build"
  default     = []
}

variable "skip_upgrade" {
  type        = bool
  default     = false
  description = "ignored"
}

variable "puppetfile" {
  type        = string
  default     = ""
  description = "ignored"
}

variable "eyaml_key" {
  type        = string
  default     = ""
  sensitive   = true
  description = "ignored"
}

variable "bastion_tags" {
  type    = list(string)
  default = []
}

variable "puppet_conf" {
  type        = any
  default     = []
  description = "ignored"
}

variable "os_floating_ips" {
  description = "Map of instance name => pre-allocated floating IP address"
  default     = {}
}

variable "os_ext_network" {
  type        = string
  default     = null
  description = "Name of the external network that floating IPs come from (default: the only external one)"
}

variable "subnet_id" {
  type        = string
  default     = null
  description = "Id of the internal IPv4 subnet with DHCP the ports take their address from (default: the project's only internal network)"
}
