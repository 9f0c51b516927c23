"""crm-bot's edge: the Flask webhook server, platform adapters, outbound clients and the sandbox."""
