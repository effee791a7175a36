//! A float tensor of any rank from 1 to 6: burn's tensors carry their rank in their type, an ONNX
//! graph's values carry it at run time. Every operation here is burn's, on whatever backend the
//! tensor lives on, so the autodiff backend differentiates through it like through the zoo's
//! hand-written models.

use burn::tensor::{Device, Shape, Tensor, TensorData};

/// The largest rank an ONNX value may have here.
pub const MAX_RANK: usize = 6;

#[derive(Clone, Debug)]
pub enum DynTensor {
    R1(Tensor<1>),
    R2(Tensor<2>),
    R3(Tensor<3>),
    R4(Tensor<4>),
    R5(Tensor<5>),
    R6(Tensor<6>),
}

/// Applies `$body` to the tensor inside `$value`, whatever its rank, and wraps a tensor result
/// back in the same variant.
macro_rules! map_same_rank {
    ($value:expr, |$t:ident| $body:expr) => {
        match $value {
            DynTensor::R1($t) => DynTensor::R1($body),
            DynTensor::R2($t) => DynTensor::R2($body),
            DynTensor::R3($t) => DynTensor::R3($body),
            DynTensor::R4($t) => DynTensor::R4($body),
            DynTensor::R5($t) => DynTensor::R5($body),
            DynTensor::R6($t) => DynTensor::R6($body),
        }
    };
}
pub(crate) use map_same_rank;

/// Applies `$body` to the tensor inside `$value` and returns what it gives (not a tensor).
macro_rules! with_tensor {
    ($value:expr, |$t:ident| $body:expr) => {
        match $value {
            DynTensor::R1($t) => $body,
            DynTensor::R2($t) => $body,
            DynTensor::R3($t) => $body,
            DynTensor::R4($t) => $body,
            DynTensor::R5($t) => $body,
            DynTensor::R6($t) => $body,
        }
    };
}

fn array<const D: usize>(dims: &[usize]) -> [usize; D] {
    let mut out = [0; D];
    out.copy_from_slice(dims);
    out
}

/// Reshapes a tensor of rank `D` to `dims` (any rank up to [`MAX_RANK`]).
fn reshape_from<const D: usize>(t: Tensor<D>, dims: &[usize]) -> DynTensor {
    match dims.len() {
        1 => DynTensor::R1(t.reshape(array::<1>(dims))),
        2 => DynTensor::R2(t.reshape(array::<2>(dims))),
        3 => DynTensor::R3(t.reshape(array::<3>(dims))),
        4 => DynTensor::R4(t.reshape(array::<4>(dims))),
        5 => DynTensor::R5(t.reshape(array::<5>(dims))),
        6 => DynTensor::R6(t.reshape(array::<6>(dims))),
        r => panic!("rank {r} is checked when the graph is read (1 to {MAX_RANK})"),
    }
}

impl DynTensor {
    /// A tensor of `values` in row-major order with `dims` (a scalar is `[1]`).
    pub fn from_values(values: Vec<f32>, dims: &[usize], device: &Device) -> DynTensor {
        let dims: Vec<usize> = if dims.is_empty() { vec![1] } else { dims.to_vec() };
        let flat = Tensor::<1>::from_data(TensorData::new(values, [dims.iter().product::<usize>()]), device);
        reshape_from(flat, &dims)
    }

    pub fn dims(&self) -> Vec<usize> {
        with_tensor!(self, |t| t.dims().to_vec())
    }

    pub fn rank(&self) -> usize {
        with_tensor!(self, |t| t.dims().len())
    }

    pub fn reshape(self, dims: &[usize]) -> DynTensor {
        with_tensor!(self, |t| reshape_from(t, dims))
    }

    /// The same values with `extra` leading dimensions of size 1 (numpy's broadcasting aligns
    /// shapes at their ends).
    pub fn with_rank(self, rank: usize) -> DynTensor {
        let dims = self.dims();
        if dims.len() >= rank {
            return self;
        }
        let mut padded = vec![1; rank - dims.len()];
        padded.extend(dims);
        self.reshape(&padded)
    }

    /// Broadcasts to `dims` (same rank; size-1 dimensions repeat).
    pub fn expand_to(self, dims: &[usize]) -> DynTensor {
        if self.dims() == dims {
            return self;
        }
        match self {
            DynTensor::R1(t) => DynTensor::R1(t.expand(Shape::from(dims.to_vec()))),
            DynTensor::R2(t) => DynTensor::R2(t.expand(Shape::from(dims.to_vec()))),
            DynTensor::R3(t) => DynTensor::R3(t.expand(Shape::from(dims.to_vec()))),
            DynTensor::R4(t) => DynTensor::R4(t.expand(Shape::from(dims.to_vec()))),
            DynTensor::R5(t) => DynTensor::R5(t.expand(Shape::from(dims.to_vec()))),
            DynTensor::R6(t) => DynTensor::R6(t.expand(Shape::from(dims.to_vec()))),
        }
    }

    pub fn permute(self, axes: &[usize]) -> DynTensor {
        match self {
            DynTensor::R1(t) => DynTensor::R1(t.permute(array::<1>(axes))),
            DynTensor::R2(t) => DynTensor::R2(t.permute(array::<2>(axes))),
            DynTensor::R3(t) => DynTensor::R3(t.permute(array::<3>(axes))),
            DynTensor::R4(t) => DynTensor::R4(t.permute(array::<4>(axes))),
            DynTensor::R5(t) => DynTensor::R5(t.permute(array::<5>(axes))),
            DynTensor::R6(t) => DynTensor::R6(t.permute(array::<6>(axes))),
        }
    }

    /// `start..end` with `step` along each axis (one range per axis).
    pub fn slice(self, ranges: &[burn::tensor::Slice]) -> DynTensor {
        let ranges = ranges.to_vec();
        map_same_rank!(self, |t| t.slice(&ranges))
    }

    /// Pads with `value`: one (before, after) pair per axis.
    pub fn pad_constant(self, pairs: Vec<(usize, usize)>, value: f32) -> DynTensor {
        use burn::tensor::ops::PadMode;
        map_same_rank!(self, |t| t.pad(pairs.clone(), PadMode::Constant(value)))
    }

    pub fn mean_dims(self, axes: &[usize]) -> DynTensor {
        map_same_rank!(self, |t| t.mean_dims(axes))
    }

    pub fn narrow(self, axis: usize, start: usize, length: usize) -> DynTensor {
        map_same_rank!(self, |t| t.narrow(axis, start, length))
    }

    /// Joins tensors of one rank along `axis`.
    pub fn cat(parts: Vec<DynTensor>, axis: usize) -> Result<DynTensor, String> {
        let rank = parts.first().map(DynTensor::rank).ok_or("Concat of nothing")?;
        macro_rules! cat_rank {
            ($variant:ident) => {{
                let tensors = parts
                    .into_iter()
                    .map(|p| match p {
                        DynTensor::$variant(t) => Ok(t),
                        other => Err(format!("Concat of rank {rank} and rank {}", other.rank())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                DynTensor::$variant(Tensor::cat(tensors, axis))
            }};
        }
        Ok(match rank {
            1 => cat_rank!(R1),
            2 => cat_rank!(R2),
            3 => cat_rank!(R3),
            4 => cat_rank!(R4),
            5 => cat_rank!(R5),
            _ => cat_rank!(R6),
        })
    }

    /// Applies an element-wise function of two tensors after numpy's broadcasting.
    pub fn binary(self, other: DynTensor, op: Binary) -> Result<DynTensor, String> {
        let rank = self.rank().max(other.rank());
        let (a, b) = (self.with_rank(rank), other.with_rank(rank));
        let (da, db) = (a.dims(), b.dims());
        let mut dims = Vec::with_capacity(rank);
        for (x, y) in da.iter().zip(&db) {
            dims.push(match (*x, *y) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(format!("shapes {da:?} and {db:?} do not broadcast")),
            });
        }
        let (a, b) = (a.expand_to(&dims), b.expand_to(&dims));
        macro_rules! apply {
            ($variant:ident, $x:ident, $y:ident) => {
                DynTensor::$variant(match op {
                    Binary::Add => $x + $y,
                    Binary::Sub => $x - $y,
                    Binary::Mul => $x * $y,
                    Binary::Div => $x / $y,
                    Binary::Pow => $x.powf($y),
                })
            };
        }
        Ok(match (a, b) {
            (DynTensor::R1(x), DynTensor::R1(y)) => apply!(R1, x, y),
            (DynTensor::R2(x), DynTensor::R2(y)) => apply!(R2, x, y),
            (DynTensor::R3(x), DynTensor::R3(y)) => apply!(R3, x, y),
            (DynTensor::R4(x), DynTensor::R4(y)) => apply!(R4, x, y),
            (DynTensor::R5(x), DynTensor::R5(y)) => apply!(R5, x, y),
            (DynTensor::R6(x), DynTensor::R6(y)) => apply!(R6, x, y),
            _ => unreachable!("both were given rank {rank}"),
        })
    }

    /// Batched matrix product with numpy's `matmul` rules: 1-D operands gain a dimension that
    /// the result loses, and the leading (batch) dimensions broadcast.
    pub fn matmul(self, other: DynTensor) -> Result<DynTensor, String> {
        let (ra, rb) = (self.rank(), other.rank());
        let a = if ra == 1 { self.with_rank(2) } else { self };
        let b = if rb == 1 {
            let d = other.dims();
            other.reshape(&[d[0], 1])
        } else {
            other
        };
        let rank = a.rank().max(b.rank());
        let (a, b) = (a.with_rank(rank), b.with_rank(rank));
        let (da, db) = (a.dims(), b.dims());
        if da[rank - 1] != db[rank - 2] {
            return Err(format!("MatMul of {da:?} and {db:?}: inner sizes differ"));
        }
        let mut batch = Vec::new();
        for (x, y) in da[..rank - 2].iter().zip(&db[..rank - 2]) {
            batch.push(match (*x, *y) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(format!("MatMul of {da:?} and {db:?}: batch sizes do not broadcast")),
            });
        }
        let full = |d: &[usize]| [batch.clone(), d[rank - 2..].to_vec()].concat();
        let (a, b) = (a.expand_to(&full(&da)), b.expand_to(&full(&db)));
        let product = match (a, b) {
            (DynTensor::R2(x), DynTensor::R2(y)) => DynTensor::R2(x.matmul(y)),
            (DynTensor::R3(x), DynTensor::R3(y)) => DynTensor::R3(x.matmul(y)),
            (DynTensor::R4(x), DynTensor::R4(y)) => DynTensor::R4(x.matmul(y)),
            (DynTensor::R5(x), DynTensor::R5(y)) => DynTensor::R5(x.matmul(y)),
            (DynTensor::R6(x), DynTensor::R6(y)) => DynTensor::R6(x.matmul(y)),
            _ => return Err("MatMul of rank 1 tensors after promotion".into()),
        };
        // Drop the dimensions a 1-D operand gained.
        let mut dims = product.dims();
        if rb == 1 {
            dims.pop();
        }
        if ra == 1 {
            dims.remove(dims.len() - if rb == 1 { 1 } else { 2 });
        }
        Ok(if ra == 1 || rb == 1 { product.reshape(&dims) } else { product })
    }

    pub fn into_rank4(self) -> Result<Tensor<4>, String> {
        match self {
            DynTensor::R4(t) => Ok(t),
            other => Err(format!("a rank 4 tensor was expected, not rank {}", other.rank())),
        }
    }

    pub fn into_rank2(self) -> Result<Tensor<2>, String> {
        match self {
            DynTensor::R2(t) => Ok(t),
            other => Err(format!("a rank 2 tensor was expected, not rank {}", other.rank())),
        }
    }
}

/// The element-wise operations of two tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}
