"""Reconciliation: schedules, exactly-once runs of tier workbooks, and partners' statements.

ledger (what a workbook covers and lists), runs (the claim state machine; the only code that
commits), run_events (what a run's change of state records and tells), background (the process's
producer of runs asked for without waiting), schedules, statements (the xlsx), versions (a
statement's digest and status), statement_view (a statement as it reads), confirmations, disputes
(dispute, resolve) and board (the owner's board, readiness, reminders). Importers use the
submodules.
"""
