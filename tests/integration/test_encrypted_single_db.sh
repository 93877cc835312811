#!/usr/bin/env bash
# test_offsite_single_db.sh once more with encryption on: every archive an age file, every manifest signed and
# checked (lib_backup.sh, PGTIER_TEST_ENCRYPTION).
PGTIER_TEST_ENCRYPTION=1 exec bash "$(dirname "$0")/test_offsite_single_db.sh"
