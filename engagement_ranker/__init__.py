"""Engagement Ranker: weekly Yobi usage ranks written onto HubSpot companies."""
