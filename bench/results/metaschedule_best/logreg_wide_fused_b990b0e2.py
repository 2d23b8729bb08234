# from tvm.script import tirx as T
# from tvm.tirx.layout import Axis

@T.prim_func(s_tir=True)
def main(X: T.Buffer((T.int64(4096), 500), "float64"), w0: T.Buffer((500, 1), "float64"), w2: T.Buffer((1,), "float64"), v13: T.Buffer((T.int64(4096), 2), "float64")):
    T.func_attr({"tirx.noalias": True})
    # with T.sblock("root"):
    v1 = T.sblock_alloc_buffer((T.int64(4096), 1), "float64")
    v8 = T.sblock_alloc_buffer((T.int64(4096),), "float64")
    for i_0_fused in T.parallel(T.int64(64), annotations={"pragma_auto_unroll_max_step": 64, "pragma_unroll_explicit": 1}):
        for j_0, i_1, j_1 in T.grid(1, T.int64(2), 1):
            for i_2_init, j_2_init, i_3_init, j_3_init in T.grid(T.int64(1), 1, T.int64(32), 1):
                with T.sblock("v1_init"):
                    v_i = T.axis.spatial(T.int64(4096), i_0_fused * T.int64(64) + i_1 * T.int64(32) + i_2_init * T.int64(32) + i_3_init)
                    v_j = T.axis.spatial(1, j_0 + j_1 + j_2_init + j_3_init)
                    T.reads()
                    T.writes(v1[v_i, v_j])
                    T.sblock_attr({"meta_schedule.tiling_structure": "SSRSRS"})
                    v1[v_i, v_j] = T.float64(0.0)
            for k_0, i_2, j_2, k_1, i_3, j_3 in T.grid(25, T.int64(1), 1, 20, T.int64(32), 1):
                with T.sblock("v1_update"):
                    v_i = T.axis.spatial(T.int64(4096), i_0_fused * T.int64(64) + i_1 * T.int64(32) + i_2 * T.int64(32) + i_3)
                    v_j = T.axis.spatial(1, j_0 + j_1 + j_2 + j_3)
                    v_k = T.axis.reduce(500, k_0 * 20 + k_1)
                    T.reads(v1[v_i, v_j], X[v_i, v_k], w0[v_k, v_j])
                    T.writes(v1[v_i, v_j])
                    T.sblock_attr({"meta_schedule.tiling_structure": "SSRSRS"})
                    v1[v_i, v_j] = v1[v_i, v_j] + X[v_i, v_k] * w0[v_k, v_j]
    for i0_fused_fused in T.parallel(T.int64(4096)):
        for i1 in range(2):
            for ax0 in range(T.int64(1)):
                with T.sblock("v8"):
                    v_i0 = T.axis.spatial(T.int64(4096), i0_fused_fused + ax0)
                    T.reads(v1[v_i0, 0], w2[0])
                    T.writes(v8[v_i0])
                    v8[v_i0] = T.float64(1.0) / (T.float64(1.0) + T.exp((v1[v_i0, 0] + w2[0]) * T.float64(-1.0)))
            with T.sblock("v13"):
                v_i0 = T.axis.spatial(T.int64(4096), i0_fused_fused)
                v_i1 = T.axis.spatial(2, i1)
                T.reads(v8[v_i0])
                T.writes(v13[v_i0, v_i1])
                v13[v_i0, v_i1] = T.if_then_else(v_i1 < 1, T.float64(1.0) - v8[v_i0], v8[v_i0])