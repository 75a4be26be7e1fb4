"""Vendor export formats. Each module registers its Format(s) with poanalytics.ingest.formats."""
