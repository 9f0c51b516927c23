"""crm-bot's domain core: config, storage, services. Imports nothing from bot/, handlers/, cards/ or Flask."""
