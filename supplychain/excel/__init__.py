"""Everything that touches openpyxl: workbook writers (write-only), the import reader (read-only)."""
