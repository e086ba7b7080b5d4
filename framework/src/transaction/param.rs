//! Which handler parameter is a [`Tx`], decided by the compiler for the macros' generated
//! code (autoref specialization: `(&Param::<T>::new()).is_tx()` picks [`TxParam`] for `Tx` and
//! [`OtherParam`] for every other type, with no bound on `T`).

use std::marker::PhantomData;

use super::Tx;

/// A marker for the parameter type `T`.
#[derive(Debug)]
pub struct Param<T: ?Sized>(PhantomData<fn() -> PhantomData<T>>);

impl<T: ?Sized> Param<T> {
    /// The marker.
    pub const fn new() -> Self {
        Param(PhantomData)
    }
}

impl<T: ?Sized> Default for Param<T> {
    fn default() -> Self {
        Param::new()
    }
}

/// Picked for a `Tx` parameter.
pub trait TxParam {
    /// Whether the parameter is the unit's transaction.
    fn is_tx(&self) -> bool {
        true
    }
}

impl TxParam for Param<Tx> {}

/// Picked for every other parameter.
pub trait OtherParam {
    /// Whether the parameter is the unit's transaction.
    fn is_tx(&self) -> bool {
        false
    }
}

impl<T: ?Sized> OtherParam for &Param<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    // The borrow picks the impl: without it, only `Param<Tx>` would resolve.
    #[allow(clippy::needless_borrow)]
    #[test]
    fn only_tx_is_a_tx() {
        assert!((&Param::<Tx>::new()).is_tx());
        assert!(!(&Param::<String>::new()).is_tx());
        assert!(!(&Param::<Option<Tx>>::new()).is_tx());
        assert!(!(&Param::<dyn Send>::new()).is_tx());
    }
}
