"""The KubeRay deployment: manifest rendering (render), the migration step (prepare)."""
