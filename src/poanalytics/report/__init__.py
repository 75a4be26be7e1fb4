"""Reports: what leaves the workbench (weekly HTML report, exports) and the redaction it goes through."""
