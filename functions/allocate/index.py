"""FC handler: the allocate step. Parse the trigger event, run the step per message, report per-message failures."""

from podnet.fc import handler_for

initialize, handler = handler_for("allocate")
