"""The Meerkat wire-contract version mobkat speaks (reported by ``models/catalog`` and friends)."""

CONTRACT_VERSION = "0.8.26"
