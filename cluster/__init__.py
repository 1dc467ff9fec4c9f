"""Settings, names, client factories and the local bring-up of flashsale's services."""
