/*
 * bench_mrmpi: the refcount join of tools/bench_gen.h on MR-MPI (Debian
 * libmrmpi-dev, built against Open MPI; its C++ API, as Debian's build
 * does not export the C one), for tools/bench_mr.sh. Built separately
 * with mpicxx.openmpi; not part of the curator build.
 *
 *   mpiexec.openmpi -n N bench_mrmpi A B SPLITS MEMSIZE_MB SCRATCH
 *
 * map: tasks 0..SPLITS-1 generate input A (ext -> 'R'+ref), tasks
 * SPLITS..2*SPLITS-1 input B (ext -> 'E'+egroup); collate; reduce counts
 * references per extent and emits (egroup -> ext, count), as ours does.
 */
#include <mpi.h>
#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/bench_gen.h"

using namespace MAPREDUCE_NS;

static uint64_t A, B;
static int SPLITS;

static void mymap(int itask, KeyValue *kv, void *)
{
	char v[9];
	if (itask < SPLITS) {
		struct bg_a g;
		uint64_t ext, ref;
		bg_a_init(&g, A, B, SPLITS, itask);
		v[0] = 'R';
		while (bg_a_next(&g, &ext, &ref)) {
			memcpy(v + 1, &ref, 8);
			kv->add((char *)&ext, 8, v, 9);
		}
	} else {
		uint64_t first, end;
		bg_b_range(B, SPLITS, itask - SPLITS, &first, &end);
		v[0] = 'E';
		for (uint64_t ext = first; ext < end; ext++) {
			uint64_t eg = bg_b_egroup(ext);
			memcpy(v + 1, &eg, 8);
			kv->add((char *)&ext, 8, v, 9);
		}
	}
}

static void myreduce(char *key, int, char *mv, int nvalues, int *valuebytes, KeyValue *kv, void *)
{
	uint64_t refs = 0, eg = 0;
	char out[16];
	for (int i = 0; i < nvalues; i++) {
		if (mv[0] == 'R')
			refs++;
		else
			memcpy(&eg, mv + 1, 8);
		mv += valuebytes[i];
	}
	if (!eg)
		return;
	memcpy(out, key, 8);
	memcpy(out + 8, &refs, 8);
	kv->add((char *)&eg, 8, out, 16);
}

int main(int argc, char **argv)
{
	int rank;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (argc < 6) {
		if (!rank)
			fprintf(stderr, "usage: bench_mrmpi A B SPLITS MEMSIZE_MB SCRATCH\n");
		MPI_Finalize();
		return 2;
	}
	A = strtoull(argv[1], NULL, 10);
	B = strtoull(argv[2], NULL, 10);
	SPLITS = atoi(argv[3]);
	MapReduce *mr = new MapReduce(MPI_COMM_WORLD);
	mr->memsize = atoi(argv[4]);
	mr->verbosity = 0;
	mr->set_fpath(argv[5]);
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = MPI_Wtime();
	mr->map(2 * SPLITS, mymap, NULL);
	mr->collate(NULL);
	uint64_t nout = mr->reduce(myreduce, NULL);
	MPI_Barrier(MPI_COMM_WORLD);
	double t1 = MPI_Wtime();
	if (!rank)
		printf("job_secs %.3f out %llu\n", t1 - t0, (unsigned long long)nout);
	delete mr;
	MPI_Finalize();
	return 0;
}
