#!/bin/bash
# A new cube made by a Slurm job array of 4 tasks, then one finalize that waits for all of them
# (docs/scale-out.md). The cube's folder is on a file system every node mounts (Lustre, NFS, GPFS).
#   sbatch configs/scale-out/gen-slurm.sh gen.yml
# A failed task: rerun that task alone (sbatch --array=3 ...), then the finalize step.
#SBATCH --job-name=baims-gen
#SBATCH --array=1-4
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=06:00:00
set -euo pipefail
CONFIG=${1:?usage: sbatch gen-slurm.sh CONFIG.yml}
if [[ -z "${BAIMS_FINALIZE:-}" && "$SLURM_ARRAY_TASK_ID" == 1 ]]; then
    # once, from the first task: the finalize job runs after every task of the array ended well
    sbatch --dependency="afterok:${SLURM_ARRAY_JOB_ID}" --array=1 --job-name=baims-finalize \
        --export=ALL,BAIMS_FINALIZE=1 "$0" "$CONFIG"
fi
if [[ -n "${BAIMS_FINALIZE:-}" ]]; then
    exec baims --progress never gen -c "$CONFIG" --finalize
fi
exec baims --progress never --threads "$SLURM_CPUS_PER_TASK" gen -c "$CONFIG" \
    --partition "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"
