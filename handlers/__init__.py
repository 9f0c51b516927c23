"""What the bot does with a message or a card tap. Handlers see only neutral events and
return their replies; the pipeline sends them."""
