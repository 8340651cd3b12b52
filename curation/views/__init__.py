"""Manager pages and the export API (web layer): thin views over curation services."""
