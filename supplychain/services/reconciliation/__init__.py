"""Reconciliation: schedules, exactly-once runs of tier workbooks, and partners' statements.

ledger (what a workbook covers and lists), runs (the claim state machine; the only code that
commits), background (the process's producer of runs asked for without waiting), schedules and
statements. Importers use the submodules.
"""
